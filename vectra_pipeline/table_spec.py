"""The building blocks of the schema registry (:mod:`vectra_pipeline.schema`): dtypes, columns and tables."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

I8 = pl.Int8
I16 = pl.Int16
I32 = pl.Int32
I64 = pl.Int64
F64 = pl.Float64
STR = pl.String
BOOL = pl.Boolean
LAYERS = ("bronze", "silver", "gold")  # partitioned by landing date: <stage>/<table>/date=YYYY-MM-DD/part.parquet
# The column every partitioned table's warehouse view adds from its folder name (files never carry it).
PARTITION_DATE_DOC = "landing date (UTC) of the partition the row comes from (its folder date=YYYY-MM-DD)"


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    doc: str


@dataclass(frozen=True)
class Table:
    name: str
    stage: str  # one of LAYERS, or "datasets"
    doc: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    file: str | None = None  # datasets only: the file of a dataset version the table is (or is read from)

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    @property
    def partitioned(self) -> bool:
        """One file per landing date (bronze, silver, gold); dataset tables are per version instead."""
        return self.stage in LAYERS


def table(name: str, stage: str, doc: str, key: tuple[str, ...], *columns: tuple[str, pl.DataType, str], file: str | None = None) -> Table:
    return Table(name, stage, doc, key, tuple(Column(*c) for c in columns), file)
