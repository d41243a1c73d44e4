"""The uploader against a real S3 server on loopback (moto): exactly once, lost replies, collisions, damage."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
from waits import wait_until

from capture_agent.config import RemoteRoot
from capture_agent.landing.schema import Direction, Source, Transport
from capture_agent.landing.segments import segment_paths
from capture_agent.landing.upload import COLLISIONS_DIR, JOURNAL, S3Store, Uploader, UploadTarget
from capture_agent.landing.writer import LandingWriter

AGENT = "0a1b2c3d"


def land_segments(cache: Path, segments: int, rows: int = 25) -> list[Path]:
    """A capture of ``segments`` published segments in ``cache``, as the writer lands them."""
    with LandingWriter(cache, Source.SYNTHETIC, segment_max_rows=rows, agent_id=AGENT) as writer:
        for n in range(segments * rows):
            writer.frame(Direction.IN, Transport.WEBSOCKET, f'42["gameStateUpdate",{{"tick":{n}}}]')
    return segment_paths(cache)


def keys_of(cache: Path, paths: list[Path], prefix: str) -> list[str]:
    return sorted(f"{prefix}/{p.relative_to(cache).as_posix()}" for p in paths)



def journal_events(cache: Path) -> list[tuple[str, str]]:
    return [(r["event"], r["key"]) for r in map(json.loads, (cache / JOURNAL).read_bytes().splitlines())]


def check_uploaded(bucket, cache: Path, keys: list[str], originals: dict[str, bytes]) -> None:
    """Every key once on the server, with our bytes and metadata; no local copy left."""
    assert bucket.keys() == keys
    for key in keys:
        body = bucket.read(key)
        assert body == originals[key]
        metadata = bucket.head(key)["Metadata"]
        assert metadata["sha256"] == hashlib.sha256(body).hexdigest()
        assert int(metadata["rows"]) == pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
        assert bucket.versions(key) == 1  # a second successful PUT would have made a second version
    assert segment_paths(cache) == []


def test_every_segment_goes_once_and_its_local_copy_only_after(tmp_path, s3_bucket):
    cache = tmp_path / "cache"
    paths = land_segments(cache, 6)
    originals = {f"team/{p.relative_to(cache).as_posix()}": p.read_bytes() for p in paths}
    target = UploadTarget(RemoteRoot(s3_bucket.name, "team"), cache, AGENT)
    said: list[str] = []
    uploader = Uploader(target, say=said.append)
    uploader.start()
    wait_until(lambda: uploader.figures().done == 6, 60, "six uploads done")
    figures = uploader.close()
    assert (figures.pending, figures.done, figures.collisions, figures.lost) == (0, 6, 0, 0) and figures.complete
    check_uploaded(s3_bucket, cache, keys_of(cache, paths, "team"), originals)
    events = journal_events(cache)
    assert sorted(k for e, k in events if e == "queued") == sorted(k for e, k in events if e == "done")
    assert len(events) == 12 and said == []
    again = Uploader(target)  # a second start has nothing to do and sends nothing
    assert again.close().done == 6 and all(s3_bucket.versions(k) == 1 for k in originals)


class LosesTheFirstReply(S3Store):
    """The PUT reaches the store, then the connection drops before its answer: the client sees an error."""

    def __init__(self, remote):
        super().__init__(remote)
        self.lost: set[str] = set()
        self.answers: list[str] = []

    def create(self, key, local, sha256, rows):
        outcome = super().create(key, local, sha256, rows)
        self.answers.append(type(outcome).__name__)
        if key not in self.lost:
            self.lost.add(key)
            raise ConnectionResetError("connection reset by peer before the response")
        return outcome


def test_a_lost_reply_after_a_successful_put_is_settled_by_the_retry(tmp_path, s3_bucket):
    cache = tmp_path / "cache"
    paths = land_segments(cache, 3)
    originals = {p.relative_to(cache).as_posix(): p.read_bytes() for p in paths}
    target = UploadTarget(RemoteRoot(s3_bucket.name), cache, AGENT, retry_cap_s=0.2)
    store = LosesTheFirstReply(target.remote)
    said: list[str] = []
    uploader = Uploader(target, store=store, say=said.append)
    uploader.start()
    wait_until(lambda: uploader.figures().done == 3, 60, "three uploads done")
    figures = uploader.close()
    assert figures.complete and figures.collisions == 0
    assert store.answers.count("Created") == 3 and store.answers.count("Exists") == 3  # each retry got a 412
    check_uploaded(s3_bucket, cache, sorted(originals), originals)
    # One line as each run of failures starts (here each key's lost reply is its own run, ended by a success).
    assert len(said) == 3 and all("ConnectionResetError" in line for line in said)


def test_a_different_object_at_the_key_is_kept_aside_and_reported_and_the_rest_goes_on(tmp_path, s3_bucket):
    cache = tmp_path / "cache"
    paths = land_segments(cache, 3)
    clash = paths[1].relative_to(cache).as_posix()
    theirs = b"another machine's segment"
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"p/{clash}", Body=theirs, Metadata={"sha256": "f" * 64})
    ours = paths[1].read_bytes()
    target = UploadTarget(RemoteRoot(s3_bucket.name, "p"), cache, AGENT)
    said: list[str] = []
    figures = Uploader(target, say=said.append).close()  # the last pass alone: scan and upload once
    assert (figures.done, figures.collisions, figures.pending) == (2, 1, 0) and not figures.complete
    assert s3_bucket.read(f"p/{clash}") == theirs and s3_bucket.versions(f"p/{clash}") == 1  # never overwritten
    kept = cache / COLLISIONS_DIR / clash
    assert kept.read_bytes() == ours
    (line,) = said
    assert f"s3://{s3_bucket.name}/p/{clash}" in line and str(kept) in line and "collision" in line
    assert "COLLISION" in figures.summary(target) and str(cache / COLLISIONS_DIR) in figures.summary(target)
    restarted = Uploader(target, say=said.append).close()  # not retried, still counted
    assert (restarted.done, restarted.collisions) == (2, 1) and len(said) == 1 and s3_bucket.versions(f"p/{clash}") == 1


class FailsMidCopy(S3Store):
    """A read error halfway through a file (a bad sector): nothing may be committed under its key."""

    def create(self, key, local, sha256, rows):
        half = Path(str(local) + ".half")
        half.write_bytes(local.read_bytes()[: local.stat().st_size // 2])
        try:
            handle = self.fs.open(self.remote.object_url(key), "xb", Metadata={"sha256": sha256})
            handle.write(half.read_bytes())
            raise OSError(5, "Input/output error")
        except OSError:
            handle.discard()
            handle.closed = True
            raise
        finally:
            half.unlink()


def test_a_failure_in_the_middle_of_a_file_commits_nothing_and_the_next_try_sends_it_whole(tmp_path, s3_bucket):
    cache = tmp_path / "cache"
    (path,) = land_segments(cache, 1)
    key = path.relative_to(cache).as_posix()
    body = path.read_bytes()
    target = UploadTarget(RemoteRoot(s3_bucket.name), cache, AGENT)
    broken = Uploader(target, store=FailsMidCopy(target.remote)).close()
    assert broken.pending == 1 and "Input/output error" in broken.last_error and s3_bucket.keys() == []
    assert Uploader(target).close().done == 1 and s3_bucket.read(key) == body and s3_bucket.versions(key) == 1


def test_a_torn_journal_line_is_cut_and_the_segment_checked_again(tmp_path, s3_bucket):
    cache = tmp_path / "cache"
    paths = land_segments(cache, 2)
    target = UploadTarget(RemoteRoot(s3_bucket.name), cache, AGENT)
    assert Uploader(target).close().done == 2
    journal = cache / JOURNAL
    intact = journal.read_bytes()
    journal.write_bytes(intact + b'{"event":"do')  # a kill -9 in the middle of an append
    more = land_segments(cache, 1)  # a new capture after the crash
    figures = Uploader(target).close()
    assert figures.done == 3 and figures.pending == 0
    assert journal.read_bytes().startswith(intact)
    assert len(journal_events(cache)) == 4 + 2  # every line whole: the torn one cut, the new segment's two appended
    assert len(s3_bucket.keys()) == len(paths) + len(more) == 3


def test_a_segment_deleted_from_the_cache_before_its_upload_is_reported_lost(tmp_path, s3_bucket):
    cache = tmp_path / "cache"
    (path,) = land_segments(cache, 1)
    target = UploadTarget(RemoteRoot(s3_bucket.name), cache, AGENT)
    offline = Uploader(target, store=FailsMidCopy(target.remote))
    offline.close()  # queued, not uploaded
    path.unlink()
    said: list[str] = []
    figures = Uploader(target, say=said.append).close()
    assert figures.lost == 1 and not figures.complete
    assert len(said) == 1 and "deleted" in said[0] and "LOST" in figures.summary(target)


def test_a_second_process_on_one_cache_leaves_the_uploads_to_the_first(tmp_path, s3_bucket):
    cache = tmp_path / "cache"
    land_segments(cache, 2)
    target = UploadTarget(RemoteRoot(s3_bucket.name), cache, AGENT)
    first = Uploader(target)
    second = Uploader(target)  # the journal's lock is taken: it only reads
    assert second.busy_elsewhere and not first.busy_elsewhere
    assert second.close().complete  # nothing asked of the user: the first one uploads
    assert first.close().done == 2 and len(s3_bucket.keys()) == 2


def test_a_segment_larger_than_one_part_goes_up_in_parts_once_and_never_over_another_object(tmp_path, s3_bucket):
    # Incompressible payloads: a segment of ~11 MiB, sent in parts of 5 MiB (the smallest S3 allows).
    import base64
    import secrets

    cache = tmp_path / "cache"
    with LandingWriter(cache, Source.SYNTHETIC, agent_id=AGENT) as writer:
        for _ in range(60):
            writer.frame(Direction.IN, Transport.WEBSOCKET, base64.b64encode(secrets.token_bytes(260_000)).decode())
    (path,) = segment_paths(cache)
    assert path.stat().st_size > 2 * (5 << 20)
    key, body = path.relative_to(cache).as_posix(), path.read_bytes()
    target = UploadTarget(RemoteRoot(s3_bucket.name, "big"), cache, AGENT)
    theirs = s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"big/{key}", Body=b"theirs", Metadata={"sha256": "e" * 64})
    clash = Uploader(target, store=S3Store(target.remote, part_size=5 << 20)).close()
    assert clash.collisions == 1 and s3_bucket.read(f"big/{key}") == b"theirs"  # the completion got its 412
    assert (cache / COLLISIONS_DIR / key).read_bytes() == body

    # The same segment again, into a store that never held the key (their version deleted for good).
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=f"big/{key}", VersionId=theirs["VersionId"])
    (cache / COLLISIONS_DIR / key).rename(path)
    (cache / JOURNAL).unlink()
    sent = Uploader(target, store=S3Store(target.remote, part_size=5 << 20)).close()
    assert sent.done == 1 and sent.complete
    head = s3_bucket.head(f"big/{key}")
    parts = head["ETag"].strip('"').partition("-")[2]
    assert parts.isdigit() and int(parts) >= 2  # a multipart upload's ETag counts its parts; one PUT has none
    check_uploaded(s3_bucket, cache, [f"big/{key}"], {f"big/{key}": body})
