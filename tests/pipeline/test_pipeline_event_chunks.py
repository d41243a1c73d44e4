"""events._chunked_frames hands every frame text over unchanged (zero-copy views for the fast-path candidates)."""

from __future__ import annotations

import polars as pl

from vectra_pipeline.silver import events as events_stage


def test_chunked_frames_give_back_every_text(monkeypatch):
    monkeypatch.setattr(events_stage, "CHUNK_ROWS", 4)  # several chunks, boundaries inside the data
    texts = ["", "short", "exactly12chr", "thirteen char", None, "é" * 7, "ü" * 40, '42["gameStateUpdate",{}]', None, "x" * 5000]
    # two polars chunks, so the Arrow export is chunked too
    series = pl.concat([pl.Series("t", texts[:5], pl.String), pl.Series("t", texts[5:], pl.String)], rechunk=False)
    candidates = pl.Series([i % 2 == 0 for i in range(len(texts))])
    seen = list(events_stage._chunked_frames(series, candidates))
    assert [index for index, _, _ in seen] == list(range(len(texts)))
    for (_, candidate, value), text, flag in zip(seen, texts, candidates):
        assert candidate == (flag and text is not None)
        if text is None:
            assert value is None
        elif candidate:
            assert isinstance(value, memoryview) and str(value, "utf-8") == text
        else:
            assert value == text
