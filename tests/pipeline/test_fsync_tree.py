"""A published folder is fsynced whole before its rename — every file and every folder in it, however deep (a Minari
export nests thousands of episode folders) — and a sync that fails stops the publish with nothing put in place. A
tree of many entries takes one syncfs(2) of its filesystem instead (where syncfs reports writeback errors: Linux ≥ 5.8),
a small tree or a system without it an fsync of each entry."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def _spy_syncs(monkeypatch, syncfs):
    """Record every per-entry fsync and every syncfs (``syncfs``: what the syncfs call does, or None: unavailable)."""
    synced: list[tuple[str, str]] = []
    real_file, real_dir = local_files.fsync_file, local_files.fsync_dir
    monkeypatch.setattr(local_files, "fsync_file", lambda path: (synced.append(("file", str(path))), real_file(path)))
    monkeypatch.setattr(local_files, "fsync_dir", lambda path: (synced.append(("dir", str(path))), real_dir(path)))
    recorded = None if syncfs is None else (lambda fd: (synced.append(("syncfs", os.readlink(f"/proc/self/fd/{fd}"))),
                                                        syncfs(fd))[1])
    monkeypatch.setattr(local_files, "_error_reporting_syncfs", lambda: recorded)
    return synced


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(episodes=st.integers(0, 12), threshold=st.integers(1, 40), available=st.booleans())
def test_a_tree_of_many_entries_takes_one_syncfs_and_a_small_one_or_no_syncfs_an_fsync_of_each(
        tmp_path_factory, monkeypatch, episodes, threshold, available):
    folder = tmp_path_factory.mktemp("tree")
    for episode in range(episodes):
        (folder / "data" / str(episode)).mkdir(parents=True)
        (folder / "data" / str(episode) / "part-0.arrow").write_bytes(os.urandom(32))
    entries = sorted(str(p) for p in [folder, *folder.rglob("*")])
    with monkeypatch.context() as patch:
        patch.setattr(local_files, "SYNCFS_FROM", threshold)
        synced = _spy_syncs(patch, (lambda fd: 0) if available else None)
        local_files.fsync_tree(folder)
    if available and len(entries) - 1 >= threshold:  # the folder's own entries, itself aside
        assert synced == [("syncfs", str(folder))]
    else:
        assert sorted(path for _, path in synced) == entries and {kind for kind, _ in synced} <= {"file", "dir"}


@pytest.mark.skipif(local_files._error_reporting_syncfs() is None, reason="syncfs(2) reporting errors: Linux ≥ 5.8 only")
def test_an_export_sized_tree_is_published_after_one_real_syncfs_then_the_rename(tmp_path, monkeypatch):
    from vectra_pipeline.local_files import _error_reporting_syncfs

    synced = _spy_syncs(monkeypatch, _error_reporting_syncfs())
    monkeypatch.setattr(local_files, "SYNCFS_FROM", 100)  # _fill makes 124 entries
    final = tmp_path / "export"
    assert local_files.publish_by_rename(final, _fill, ready="test:written")
    assert [kind for kind, _ in synced] == ["syncfs", "dir"] and synced[1] == ("dir", str(tmp_path))
    assert (final / "vectra" / "data" / "39" / "part-0.arrow").stat().st_size == 64


def test_a_failed_syncfs_stops_the_publish_and_leaves_no_folder(tmp_path, monkeypatch):
    def failing(fd):
        ctypes.set_errno(errno.EIO)
        return -1

    _spy_syncs(monkeypatch, failing)
    monkeypatch.setattr(local_files, "SYNCFS_FROM", 100)
    final = tmp_path / "export"
    with pytest.raises(OSError, match="Input/output error"):
        local_files.publish_by_rename(final, _fill, ready="test:written")
    assert not final.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("platform", "release", "reports_errors"), [
    ("linux", "5.7.19-generic", False), ("linux", "4.19.0", False), ("linux", "5.8.0", True),
    ("linux", "6.18.44-fc-v657", True), ("darwin", "23.1.0", False),
])
def test_syncfs_is_used_only_where_it_reports_writeback_errors(monkeypatch, platform, release, reports_errors):
    monkeypatch.setattr(local_files.sys, "platform", platform)
    monkeypatch.setattr(local_files.os, "uname", lambda: os.uname_result(("Linux", "host", release, "#1", "x86_64")))
    monkeypatch.setattr(local_files.ctypes, "CDLL", lambda *_, **__: type("Libc", (), {"syncfs": staticmethod(len)}))
    found = local_files._error_reporting_syncfs.__wrapped__()
    assert (found is len) == reports_errors and (found is None) == (not reports_errors)
