"""A published folder is fsynced whole before its rename — every file and every folder in it, however deep (a Minari
export nests thousands of episode folders) — and a sync that fails stops the publish with nothing put in place."""

from __future__ import annotations

import os

import pytest

from vectra_pipeline import local_files


def _fill(folder):
    for episode in range(40):
        (folder / "vectra" / "data" / str(episode)).mkdir(parents=True)
        (folder / "vectra" / "data" / str(episode) / "part-0.arrow").write_bytes(os.urandom(64))
        (folder / "vectra" / "data" / str(episode) / "metadata.json").write_text("{}")
    (folder / "vectra" / "namespace_metadata.json").write_text("{}")


def test_every_file_and_folder_of_the_published_tree_is_synced_before_the_rename(tmp_path, monkeypatch):
    synced: list[str] = []
    real_file, real_dir = local_files.fsync_file, local_files.fsync_dir
    monkeypatch.setattr(local_files, "fsync_file", lambda path: (synced.append(("file", path.name)), real_file(path)))
    monkeypatch.setattr(local_files, "fsync_dir", lambda path: (synced.append(("dir", path.name)), real_dir(path)))
    final = tmp_path / "export"
    seen_at_sync: dict = {}

    def fill(folder):
        _fill(folder)
        seen_at_sync["entries"] = sorted(
            ("dir" if p.is_dir() else "file", p.name) for p in [folder, *folder.rglob("*")])

    assert local_files.publish_by_rename(final, fill, ready="test:written")
    before_rename = synced[: len(seen_at_sync["entries"])]
    assert sorted(before_rename) == seen_at_sync["entries"]  # 40 episode folders, their 80 files, the parents
    assert len(before_rename) == 1 + 2 + 40 * 3 + 1
    assert synced[len(before_rename):] == [("dir", tmp_path.name)]  # then the rename itself
    assert (final / "vectra" / "data" / "39" / "part-0.arrow").stat().st_size == 64


def test_a_failed_sync_stops_the_publish_and_leaves_no_folder(tmp_path, monkeypatch):
    def failing(path):
        if path.name == "metadata.json" and path.parent.name == "17":
            raise OSError(5, "Input/output error", str(path))

    monkeypatch.setattr(local_files, "fsync_file", failing)
    final = tmp_path / "export"
    with pytest.raises(OSError, match="Input/output error"):
        local_files.publish_by_rename(final, _fill, ready="test:written")
    assert not final.exists() and list(tmp_path.iterdir()) == []  # the temp removed too
