"""The upload journal's pure core, data roots and the agent id: hostile inputs, torn journals, racing agents."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture_agent.config import RemoteRoot, agent_id, parse_data_root
from capture_agent.errors import VectraError
from capture_agent.landing.upload import (
    Absent,
    Created,
    Entry,
    Exists,
    Status,
    UploadBook,
    record,
    retry_delay,
    settle,
)

HEX = "0123456789abcdef"
entries = st.builds(
    Entry,
    key=st.sampled_from([f"landing/date=2026-11-0{d}/c-{n:06d}.parquet" for d in (1, 2) for n in range(3)]),
    sha256=st.text(HEX, min_size=64, max_size=64),
    rows=st.integers(0, 10**9),
    status=st.sampled_from(list(Status)),
    stored_sha256=st.none() | st.text(HEX, min_size=64, max_size=64),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(entries, max_size=12), st.lists(st.binary(max_size=40), max_size=4), st.integers(0, 120), st.randoms())
def test_a_journal_replays_to_the_last_record_of_each_key_whatever_damage_it_carries(records, garbage, cut, rnd):
    lines = [record(entry) for entry in records]
    # Damage: junk lines anywhere (never a valid record: no JSON object with every field), a torn last line.
    damaged = list(lines)
    for junk in garbage:
        damaged.insert(rnd.randint(0, len(damaged)), junk.replace(b"\n", b" ") + b"\n")
    torn = b""
    if lines:
        torn = lines[-1][: min(cut, len(lines[-1]) - 2)]  # a kill -9 in the middle of the last append
    book = UploadBook.replay(b"".join([*damaged, torn]).split(b"\n"))
    expected = {entry.key: entry for entry in records}  # the torn copy is unreadable: the whole one before it stands
    assert book.entries == expected
    assert book.damaged_lines <= len(garbage) + (1 if torn else 0)
    for status in Status:
        assert book.count(status) == sum(1 for e in expected.values() if e.status is status)
        assert [e.key for e in book.with_status(status)] == sorted(k for k, e in expected.items() if e.status is status)


def test_what_an_answer_of_the_store_means():
    entry = Entry("landing/date=2026-11-01/c-000000.parquet", "a" * 64, 10)
    assert settle(entry, Created()) is Status.DONE
    assert settle(entry, Exists("a" * 64)) is Status.DONE  # a retry whose first PUT landed: its reply was lost
    assert settle(entry, Exists("b" * 64)) is Status.COLLISION
    assert settle(entry, Exists(None)) is Status.COLLISION  # not ours: we always write the sha256
    assert settle(entry, Absent()) is Status.LOST


@given(st.integers(1, 10_000), st.floats(0, 0.999), st.floats(0.5, 600))
def test_backoff_grows_to_its_cap_and_never_past_it(failures, jitter, cap):
    delay = retry_delay(failures, cap, jitter)
    assert 0 < delay <= cap
    assert retry_delay(failures + 1, cap, jitter) >= delay


@pytest.mark.parametrize(
    ("text", "bucket", "prefix"),
    [("s3://team-bucket", "team-bucket", ""), ("s3://team.bucket/a/b/", "team.bucket", "a/b"), ("s3://abc//x//y", "abc", "x/y")],
)
def test_s3_roots_are_read_into_bucket_and_prefix(text, bucket, prefix):
    root = parse_data_root(text)
    assert root == RemoteRoot(bucket, prefix)
    assert parse_data_root(root.url) == root
    assert root.object_url("landing/date=2026-11-01/x.parquet") == f"{root.url}/landing/date=2026-11-01/x.parquet"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=12).filter(lambda s: "@" not in s and ":" not in s), st.text(min_size=1, max_size=30), st.text(max_size=40))
def test_a_credential_in_a_data_root_is_refused_without_being_echoed(user, secret, rest):
    secret = "vsec-" + secret.replace("@", "").replace("/", "")  # what stands between ':' and '@'
    text = f"s3://{user}:{secret}@bucket/{rest}"
    with pytest.raises(VectraError) as caught:
        parse_data_root(text)
    assert secret not in str(caught.value)
    assert "\n" not in str(caught.value)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_any_s3_text_is_a_root_or_one_line_that_says_what_is_wrong(rest):
    try:
        root = parse_data_root(f"s3://{rest}")
    except VectraError as error:
        assert "\n" not in str(error)
        return
    assert parse_data_root(root.url) == root
    assert ".." not in root.prefix.split("/") and "" not in root.prefix.split("/")[: -1 or None]


def test_other_schemes_are_refused_and_local_paths_stay_paths(tmp_path):
    with pytest.raises(VectraError, match="gs://… is not supported"):
        parse_data_root("gs://bucket/x")
    assert parse_data_root(str(tmp_path)) == tmp_path


def test_the_agent_id_is_made_once_and_shared_by_racing_agents(tmp_path):
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(agent_id(tmp_path / "config"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1 and len(seen[0]) == 8
    assert agent_id(tmp_path / "config") == seen[0]
    assert agent_id(tmp_path / "other") != seen[0]
    assert [p.name for p in (tmp_path / "config").iterdir()] == ["agent-id"]  # no temp file left behind


def test_a_damaged_agent_id_is_one_line_saying_what_to_do(tmp_path):
    (tmp_path / "agent-id").write_text("not hex\n")
    with pytest.raises(VectraError, match="delete it and the next run makes a new agent id"):
        agent_id(tmp_path)


def test_the_import_ledger_remembers_complete_imports_only_and_survives_a_torn_line(tmp_path):
    from capture_agent.landing.importer import IMPORTS_LEDGER, import_files
    from capture_agent.landing.segments import segment_paths

    frames = tmp_path / "frames.txt"
    frames.write_text("".join(f'42["gameStateUpdate",{{"tick":{n}}}]\n' for n in range(30)))
    cache = tmp_path / "cache"
    (first,) = import_files(cache, [frames], ledger=True)
    for path in segment_paths(cache):
        path.unlink()  # uploaded and deleted, as with an s3:// root
    (again,) = import_files(cache, [frames], ledger=True)
    assert again.already_imported and (again.capture_id, again.rows) == (first.capture_id, 30)
    assert segment_paths(cache) == []

    ledger = cache / IMPORTS_LEDGER
    ledger.write_bytes(b'{"sha256": "not json\n' + ledger.read_bytes()[:-9])  # damage, then a line torn by a crash
    (anew,) = import_files(cache, [frames], ledger=True)
    assert not anew.already_imported and anew.capture_id != first.capture_id and anew.rows == 30
    for path in segment_paths(cache):
        path.unlink()
    (known,) = import_files(cache, [frames], ledger=True)  # the new import's own line is whole
    assert known.already_imported and known.capture_id == anew.capture_id
