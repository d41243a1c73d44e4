"""A dataset's history: one record per publish under ``_history/`` (an object store cannot append), an earlier
release's ``history.jsonl`` still read first — on a local root and on a bucket alike."""

from __future__ import annotations

import json

import pytest

from capture_agent.config import RemoteRoot
from vectra_pipeline import storage
from vectra_pipeline.datasets.registry import latest_dataset, record_published


def _root(kind: str, tmp_path, request):
    if kind == "local":
        return tmp_path
    bucket = request.getfixturevalue("s3_bucket")
    return storage.location(RemoteRoot(bucket.name, "team"))


def _version(root, version_id: str) -> None:
    manifest = {"id": version_id, "name": "player"}
    storage.write_json(storage.manifest_path(storage.version_path(root, "player", version_id)), manifest)


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_the_history_is_one_record_per_publish_after_an_earlier_history_file(kind, tmp_path, request):
    root = _root(kind, tmp_path, request)
    for version_id in ("a" * 16, "b" * 16, "c" * 16):
        _version(root, version_id)
    earlier = "".join(json.dumps({"id": v, "published_ns": n}) + "\n" for n, v in enumerate(("a" * 16, "b" * 16)))
    storage.write_text(storage.location(storage.dataset_root(root, "player"), storage.HISTORY), earlier)
    assert latest_dataset(root, "player").id == "b" * 16  # an existing root keeps its history

    record_published(root, "player", "a" * 16)  # requested again: it becomes the latest
    record_published(root, "player", "a" * 16)  # already the latest: no second record
    assert latest_dataset(root, "player").id == "a" * 16
    record_published(root, "player", "c" * 16)
    assert latest_dataset(root, "player").id == "c" * 16
    records = storage.history_records(root, "player")
    assert [name.removesuffix(".json").split("-", 1)[1] for name in records] == ["a" * 16, "c" * 16]
    assert records == sorted(records)  # named by UTC time: the listing's order is the publishing order
    assert storage.read_lines(storage.location(storage.dataset_root(root, "player"), storage.HISTORY)) == earlier.splitlines()
