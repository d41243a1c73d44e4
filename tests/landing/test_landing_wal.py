"""The WAL reader: any cut or corruption of the tail yields an exact prefix of the rows, never a wrong row."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture_agent.landing.wal import ROW_FIELDS, WalHeader, WalReader, append_row, encode_header

HEADER = WalHeader("cap-1", "direct", 3, 100, 1_767_225_600_000_000_000, 42)


def _row(seq: int, text: str | None, data: bytes | None) -> tuple:
    return (seq, "frame", 1_767_225_600_000_000_000 + seq, seq, None, "in", "websocket", "sid", None, 1, text, data, "e", None, None)


def _wal(rows: list[tuple]) -> tuple[bytes, list[int]]:
    """The WAL bytes and the offset where each row's record ends."""
    buffer = bytearray(encode_header(HEADER))
    ends = []
    for row in rows:
        append_row(buffer, row)
        ends.append(len(buffer))
    return bytes(buffer), ends


payloads = st.one_of(st.tuples(st.text(max_size=300), st.none()), st.tuples(st.none(), st.binary(max_size=300)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(payloads, min_size=1, max_size=12), cut=st.integers(min_value=0), flip=st.booleans(), data=st.data())
def test_torn_or_corrupt_tails_yield_an_exact_prefix(payloads, cut, flip, data) -> None:
    rows = [_row(100 + i, text, blob) for i, (text, blob) in enumerate(payloads)]
    raw, ends = _wal(rows)
    header_size = len(encode_header(HEADER))
    keep = cut % (len(raw) + 1)
    damaged = bytearray(raw[:keep])
    flip = flip and keep > header_size
    if flip:  # one corrupt byte somewhere in the rows
        damaged[data.draw(st.integers(min_value=header_size, max_value=keep - 1))] ^= 0x5A
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.wal"
        path.write_bytes(bytes(damaged))
        reader = WalReader(path)
        read = list(reader.rows())
    if keep < header_size:
        assert read == [] and reader.header is None
        return
    assert reader.header == HEADER
    assert read == rows[: len(read)]  # a prefix, row for row: nothing misread
    if not flip:
        assert len(read) == sum(1 for end in ends if end <= keep)  # every complete record is kept
    assert reader.valid_bytes + reader.torn_bytes == keep
    assert all(len(row) == len(ROW_FIELDS) for row in read)


def test_an_intact_wal_reads_back_completely(tmp_path: Path) -> None:
    rows = [_row(100 + i, f'42["t",{i}]', None) for i in range(50)] + [_row(150, None, b"\x00\x01")]
    raw, _ = _wal(rows)
    (tmp_path / "x.wal").write_bytes(raw)
    reader = WalReader(tmp_path / "x.wal")
    assert list(reader.rows()) == rows and reader.torn_bytes == 0 and reader.torn_reason is None
