"""One Parquet file assembled from single-row-group Parquet files, their encoded pages kept as they are. Pure.

The pipeline's writer (polars, :mod:`vectra_pipeline.parquet_format`) encodes each row group of a file on its own:
a row group's pages are the same bytes whether it is written in a whole file or alone in a file of its own. What
differs are the absolute offsets: polars writes each column chunk's ``ColumnMetaData`` right after its pages and
again in the footer, both holding where the pages start. So a file written a row group at a time (each part exactly
the rows one write of the whole would put in that row group) is assembled here by copying the pages and rewriting
only those offsets, the row groups' ordinals and the footer's row count: the bytes of one write of the whole,
without decoding or encoding a row again (``tests/pipeline/test_partition_appender.py`` holds it, cuts and sizes
drawn by hypothesis).

The metadata is Thrift's compact protocol, read into a generic tree (field ids and types kept, so writing a tree
back gives the bytes it was read from) and written back with the offsets moved.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

MAGIC = b"PAR1"

_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)

# field ids of parquet.thrift
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4
_GROUP_COLUMNS, _GROUP_FILE_OFFSET, _GROUP_ORDINAL = 1, 5, 7
_CHUNK_FILE_OFFSET, _CHUNK_META, _CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX = 2, 3, 4, 6  # index: offset, then length
_OFFSETS_PAGES, _PAGE_OFFSET = 1, 1
_META_TOTAL_COMPRESSED, _META_DATA_PAGE, _META_INDEX_PAGE, _META_DICTIONARY_PAGE = 7, 9, 10, 11
# what this assembly does not move (the pipeline's writer makes none)
_CHUNK_UNMOVABLE = {1: "file path", 8: "crypto metadata"}
_META_UNMOVABLE = {14: "bloom filter"}


class AssemblyError(ValueError):
    """A part that is not a single-row-group file of the layout this module knows."""


# -- Thrift compact protocol: a struct is a list of [field id, type, value] ----------------------------------------

def _read_varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _read_int(data: memoryview, at: int) -> tuple[int, int]:
    raw, at = _read_varint(data, at)
    return (raw >> 1) ^ -(raw & 1), at


def _read_value(data: memoryview, at: int, kind: int):
    if kind in (_TRUE, _FALSE):  # only inside a list: one byte each
        return data[at], at + 1
    if kind == _BYTE:
        return data[at], at + 1
    if kind in (_I16, _I32, _I64):
        return _read_int(data, at)
    if kind == _DOUBLE:
        return bytes(data[at : at + 8]), at + 8
    if kind == _BINARY:
        size, at = _read_varint(data, at)
        return bytes(data[at : at + size]), at + size
    if kind in (_LIST, _SET):
        header = data[at]
        at += 1
        size, element = header >> 4, header & 0x0F
        long = size == 0x0F
        if long:
            size, at = _read_varint(data, at)
        items = []
        for _ in range(size):
            item, at = _read_value(data, at, element)
            items.append(item)
        return (element, long, items), at
    if kind == _MAP:
        size, at = _read_varint(data, at)
        if size == 0:
            return (0, []), at
        types = data[at]
        at += 1
        pairs = []
        for _ in range(size):
            key, at = _read_value(data, at, types >> 4)
            value, at = _read_value(data, at, types & 0x0F)
            pairs.append((key, value))
        return (types, pairs), at
    if kind == _STRUCT:
        return read_struct(data, at)
    raise AssemblyError(f"unknown Thrift type {kind}")


def read_struct(data: memoryview, at: int = 0) -> tuple[list, int]:
    """The struct starting at ``at`` and where it ends."""
    fields, last = [], 0
    while True:
        header = data[at]
        at += 1
        if header == _STOP:
            return fields, at
        kind, delta = header & 0x0F, header >> 4
        if delta:
            field = last + delta
        else:
            field, at = _read_int(data, at)
        if kind in (_TRUE, _FALSE):
            value = kind == _TRUE
        else:
            value, at = _read_value(data, at, kind)
        fields.append([field, kind, value])
        last = field


def _varint(value: int, out: bytearray) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _int(value: int, out: bytearray) -> None:
    _varint((value << 1) ^ (value >> 63), out)


def _write_value(kind: int, value, out: bytearray) -> None:
    if kind in (_TRUE, _FALSE, _BYTE):
        out.append(value)
    elif kind in (_I16, _I32, _I64):
        _int(value, out)
    elif kind == _DOUBLE:
        out += value
    elif kind == _BINARY:
        _varint(len(value), out)
        out += value
    elif kind in (_LIST, _SET):
        element, long, items = value
        if long:
            out.append(0xF0 | element)
            _varint(len(items), out)
        else:
            out.append(len(items) << 4 | element)
        for item in items:
            _write_value(element, item, out)
    elif kind == _MAP:
        types, pairs = value
        _varint(len(pairs), out)
        if pairs:
            out.append(types)
            for key, item in pairs:
                _write_value(types >> 4, key, out)
                _write_value(types & 0x0F, item, out)
    elif kind == _STRUCT:
        write_struct(value, out)
    else:
        raise AssemblyError(f"unknown Thrift type {kind}")


def write_struct(fields: list, out: bytearray) -> bytearray:
    last = 0
    for field, kind, value in fields:
        if kind in (_TRUE, _FALSE):
            kind = _TRUE if value else _FALSE
        if 0 < field - last <= 15:
            out.append((field - last) << 4 | kind)
        else:
            out.append(kind)
            _int(field, out)
        if kind not in (_TRUE, _FALSE):
            _write_value(kind, value, out)
        last = field
    out.append(_STOP)
    return out


def _field(fields: list, field: int) -> list | None:
    return next((entry for entry in fields if entry[0] == field), None)


def _set(fields: list, field: int, value) -> None:
    entry = _field(fields, field)
    if entry is None:
        raise AssemblyError(f"a metadata field {field} is missing")
    entry[2] = value


def _moved(fields: list, by: int, offsets: tuple[int, ...]) -> None:
    for entry in fields:
        if entry[0] in offsets:
            entry[2] += by


# -- assembly ------------------------------------------------------------------------------------------------------

def footer(part: bytes | memoryview) -> list:
    """The FileMetaData of a Parquet file's bytes."""
    data = memoryview(part)
    if bytes(data[:4]) != MAGIC or bytes(data[-4:]) != MAGIC:
        raise AssemblyError("not a Parquet file")
    length = int.from_bytes(data[-8:-4], "little")
    fields, end = read_struct(data, len(data) - 8 - length)
    if end != len(data) - 8:
        raise AssemblyError("the footer does not end where its length says")
    return fields


def assembled(parts: Iterable[bytes]) -> Iterator[bytes | memoryview]:
    """The bytes of the file holding the row groups of ``parts`` (each a whole Parquet file of one row group, written
    with the same settings and schema), in order, as pieces to write one after the other.

    polars' layout: the row groups (each column chunk's pages, then its ColumnMetaData), every chunk's column index,
    every chunk's offset index (page positions: moved too), the footer."""
    yield MAGIC
    position, first, groups, rows = len(MAGIC), None, [], 0
    column_indexes: list[tuple[list, bytes]] = []
    offset_indexes: list[tuple[list, bytes]] = []
    for part in parts:
        data = memoryview(part)
        meta = footer(data)
        part_groups = _field(meta, _FILE_ROW_GROUPS)[2][2]
        if len(part_groups) != 1:
            raise AssemblyError(f"a part of {len(part_groups)} row groups, not one")
        (group,) = part_groups
        pieces, position, moves = _moved_group(data, group, position, len(groups))
        yield from pieces
        for chunk, by in moves:
            if (index := _index(data, chunk, _CHUNK_COLUMN_INDEX)) is not None:
                column_indexes.append((chunk, bytes(index)))
            if (index := _index(data, chunk, _CHUNK_OFFSET_INDEX)) is not None:
                pages, _ = read_struct(index)
                for page in _field(pages, _OFFSETS_PAGES)[2][2]:
                    _moved(page, by, (_PAGE_OFFSET,))
                offset_indexes.append((chunk, bytes(write_struct(pages, bytearray()))))
        groups.append(group)
        rows += _field(meta, _FILE_NUM_ROWS)[2]
        first = first or meta
    if first is None:
        raise AssemblyError("no part to assemble")
    for indexes, offset_field in ((column_indexes, _CHUNK_COLUMN_INDEX), (offset_indexes, _CHUNK_OFFSET_INDEX)):
        for chunk, index in indexes:
            _set(chunk, offset_field, position)
            _set(chunk, offset_field + 1, len(index))
            yield index
            position += len(index)
    element, _, _ = _field(first, _FILE_ROW_GROUPS)[2]
    _set(first, _FILE_ROW_GROUPS, (element, len(groups) >= 15, groups))
    _set(first, _FILE_NUM_ROWS, rows)
    tail = write_struct(first, bytearray())
    yield bytes(tail) + struct.pack("<I", len(tail)) + MAGIC


def _index(data: memoryview, chunk: list, offset_field: int) -> memoryview | None:
    """A column chunk's column or offset index in its part (its offset field, then its length field)."""
    offset, length = _field(chunk, offset_field), _field(chunk, offset_field + 1)
    if offset is None or length is None:
        return None
    return data[offset[2] : offset[2] + length[2]]


def _moved_group(data: memoryview, group: list, position: int, ordinal: int) -> tuple[list, int, list]:
    """The row group's column chunks (pages, then their inline ColumnMetaData) placed at ``position``: the pieces to
    write, the position after them, and each chunk with how far it moved; ``group`` (its footer entry) is updated
    in place to match."""
    pieces, moves, expected = [], [], len(MAGIC)
    for index, chunk in enumerate(_field(group, _GROUP_COLUMNS)[2][2]):
        meta = _field(chunk, _CHUNK_META)[2]
        found = [name for field, name in _CHUNK_UNMOVABLE.items() if _field(chunk, field)]
        found += [name for field, name in _META_UNMOVABLE.items() if _field(meta, field)]
        if found:
            raise AssemblyError(f"a column chunk with {', '.join(found)}")
        dictionary = _field(meta, _META_DICTIONARY_PAGE)
        start = dictionary[2] if dictionary else _field(meta, _META_DATA_PAGE)[2]
        if start != expected:
            raise AssemblyError("column chunks not laid out one after the other")
        end = start + _field(meta, _META_TOTAL_COMPRESSED)[2]
        inline, after = read_struct(data, end)
        if write_struct(inline, bytearray()) != data[end:after]:
            raise AssemblyError("inline column metadata that does not read back to its bytes")
        by = position - start
        if index == 0:
            _moved(group, by, (_GROUP_FILE_OFFSET,))
        for fields in (inline, meta):
            _moved(fields, by, (_META_DATA_PAGE, _META_INDEX_PAGE, _META_DICTIONARY_PAGE))
        _moved(chunk, by, (_CHUNK_FILE_OFFSET,))
        moved_inline = bytes(write_struct(inline, bytearray()))
        pieces += [data[start:end], moved_inline]
        moves.append((chunk, by))
        position += end - start + len(moved_inline)
        expected = after
    if _field(group, _GROUP_ORDINAL):
        _set(group, _GROUP_ORDINAL, ordinal)
    return pieces, position, moves
