"""Whether a frame passes a pandera[polars] schema, in one polars query. Pure.

pandera's ``validate`` runs and collects every check of every column on its own, though nearly every slice of frames
passes (a 10k-frame slice of the 1M-frame day: its contracts took 0.051 CPU-s, 0.036 with this screen). The screen
evaluates the same checks — pandera's own check functions through its check backend, nulls passing as pandera's
``ignore_na`` makes them, a non-nullable column failing on null (and NaN for floats) as pandera's does — in one
collect; only a frame it does not pass goes to ``validate``, which reports the failures as before. When in doubt (a
schema option the screen does not evaluate, a check that raises, a check answering a plain bool) it says no, and
pandera decides.
"""

from __future__ import annotations

import pandera.backends.polars.builtin_checks  # noqa: F401 - registers the check functions validate() runs
import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.backends.polars.checks import PolarsCheckBackend
from pandera.config import CONFIG
from pandera.constants import CHECK_OUTPUT_KEY


def passes(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> bool:
    """True only when pandera's ``schema.validate(frame, lazy=True)`` would find no failure."""
    if not _screenable(schema):
        return False
    lazy = frame.lazy()
    verdicts: list[pl.LazyFrame] = []
    try:
        for name, column in schema.columns.items():
            if name not in frame.columns or not column.dtype.check(
                frame.schema[name], PolarsData(lazy.select(name), name)
            ):
                return False
            if not column.nullable:
                present = pl.col(name).is_not_null()
                verdicts.append(
                    lazy.select(present & pl.col(name).is_not_nan() if frame.schema[name].is_float() else present)
                )
            verdicts.extend(_verdict(check, lazy, name) for check in column.checks)
        verdicts.extend(_verdict(check, lazy, "*") for check in schema.checks)
    except _Undecided:
        return False
    if not verdicts:
        return True
    try:
        answers = pl.collect_all([verdict.select(pl.all().all()) for verdict in verdicts])
    except Exception:  # noqa: BLE001 - a check pandera would report as a check error
        return False
    return all(answer.item() for answer in answers)


class _Undecided(Exception):
    """The screen cannot say; pandera decides."""


def _verdict(check: pa.Check, lazy: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """One boolean column: each row passes ``check`` (on column ``key``, or the frame for "*") as pandera judges it."""
    try:
        out = PolarsCheckBackend(check).apply(PolarsData(lazy, key))
    except Exception as error:  # noqa: BLE001 - pandera reports a raising check as a failure
        raise _Undecided from error
    if isinstance(out, bool) or check.n_failure_cases is not None:
        raise _Undecided
    result = pl.col(CHECK_OUTPUT_KEY)
    return out.select(result | result.is_null() if check.ignore_na else result.fill_null(False))


def _screenable(schema: pa.DataFrameSchema) -> bool:
    """The schema uses only what the screen evaluates: typed columns, their nullability and checks, frame checks."""
    if (
        CONFIG.use_narwhals_backend  # pandera would run other check functions than those the screen calls
        or schema.unique
        or schema.coerce
        or schema.ordered
        or schema.strict
        or schema.add_missing_columns
        or schema.dtype is not None
        or schema.parsers
    ):
        return False
    return all(
        not (column.unique or column.coerce or column.regex or column.default is not None or column.parsers)
        and column.required
        for column in schema.columns.values()
    )
