"""The pipeline on an ``s3://bucket/prefix`` data root, against moto's S3 server on loopback (``s3kit``).

The whole chain as a team runs it (a capture uploads, two builds at once, the datasets listed), the race on a
version's manifest, unsealed leftovers, a damaged landing object quarantined on the bucket, and the store going
down mid-build. No secret may reach a file, an object or an output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from s3kit import ACCESS_KEY, SECRET_KEY, s3_environment
from waits import wait_until

from capture_agent.config import RemoteRoot
from capture_agent.landing.synthetic import write_synthetic_capture
from vectra_pipeline import remote_storage, storage
from vectra_pipeline.landing_files import read_landing_day

REPO = Path(__file__).resolve().parents[2]
VECTRA = [sys.executable, "-m", "capture_agent.cli"]
TIMEOUT = 600  # seconds: a bound on a hang, far above what a small build needs on a loaded 2-core machine


def team_env(s3_bucket, home: Path) -> dict[str, str]:
    """A user of the team bucket: the AWS_* variables, and config and cache folders of their own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VECTRA_", "DAGSTER_"))}
    env.update(s3_environment(s3_bucket.server), XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"))
    return env


def assert_no_secret(*blobs: str | bytes) -> None:
    for blob in blobs:
        data = blob.encode() if isinstance(blob, str) else blob
        assert SECRET_KEY.encode() not in data and ACCESS_KEY.encode() not in data


@pytest.mark.timeout(3 * TIMEOUT)  # a capture, two builds, a listing: each bounded by TIMEOUT, slow on a loaded machine
def test_a_team_captures_builds_twice_at_once_and_lists_one_version_per_kind(tmp_path, s3_bucket):
    root = f"s3://{s3_bucket.name}/team"
    capture = subprocess.run(
        [*VECTRA, "capture", "--source", "simulator", "--speed", "20", "--bots", "3", "--duration", "8", "--no-status",
         "--data", root],
        cwd=REPO, env=team_env(s3_bucket, tmp_path / "alice"), capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert capture.returncode == 0, capture.stderr
    (segment,) = s3_bucket.keys("team/landing/")
    date = segment.split("/")[2].removeprefix("date=")

    # Two team members build the same root at once: each writes every table, one publishes, the other finds it done.
    builds = [
        subprocess.Popen([*VECTRA, "build", "--data", root], cwd=REPO, env=team_env(s3_bucket, tmp_path / who),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for who in ("alice", "bob")
    ]  # fmt: skip
    outputs = [build.communicate(timeout=TIMEOUT) for build in builds]
    assert [build.returncode for build in builds] == [0, 0], "\n".join(  # whole, not cut short: a failure says why
        f"{who}'s build, exit {build.returncode}:\n{out}\n{err}" for who, build, (out, err) in zip(("alice", "bob"), builds, outputs)
    )
    for who, (out, _) in zip(("alice", "bob"), outputs):  # the summary names each builder's local warehouse
        cache = tmp_path / who / "cache" / "vectra"
        assert re.search(rf"warehouse: {re.escape(str(cache))}/\w+/warehouse\.duckdb", out.replace("\n", "")), out

    keys = s3_bucket.keys("team/")
    for table in ("bronze/frames", "silver/games", "gold/episodes", "gold/market_observations"):
        assert f"team/{table}/date={date}/part.parquet" in keys
    assert f"team/gold/_built/date={date}.json" in keys
    manifests = [key for key in keys if key.endswith("/manifest.json")]
    assert manifests, "no dataset version published"
    for manifest in manifests:
        _, _, kind, version_id, _ = manifest.split("/")
        assert s3_bucket.versions(manifest) == 1  # created once, whoever lost the race
        said = [f"{kind} dataset {version_id} already published" in out for out, _ in outputs]
        assert said.count(True) == 1, outputs
        assert any(key.startswith(f"team/datasets/{kind}/_history/") and key.endswith(f"-{version_id}.json") for key in keys)
        assert f"team/datasets/{kind}/{version_id}/minari/{storage.EXPORT_SEAL}" in keys
    assert not any("warehouse" in key or "dagster" in key for key in keys)  # local things stay local

    listed = subprocess.run([*VECTRA, "datasets", "--data", root], cwd=REPO, env=team_env(s3_bucket, tmp_path / "carol"),
                            capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    for manifest in manifests:
        assert manifest.split("/")[3] in listed.stdout
    # each builder's Dagster instance is in their own cache, none in the bucket or beside the repository
    for who in ("alice", "bob"):
        assert list((tmp_path / who / "cache" / "vectra").glob("*/dagster/dagster.yaml"))
    assert not (REPO / "s3:").exists()
    local_files = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert_no_secret(capture.stdout, capture.stderr, listed.stdout, *(text for pair in outputs for text in pair),
                     *local_files, *(s3_bucket.read(key) for key in keys))


def at_once(count: int, call) -> list:
    """``call(i)`` in ``count`` threads released together by a barrier; their results (or errors), in order."""
    barrier, results = threading.Barrier(count), [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except Exception as error:  # noqa: BLE001 - what the request did is the result
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    return results


def test_creates_of_one_key_at_once_on_the_test_store_have_exactly_one_winner(s3_bucket):
    """What publish relies on, S3's conditional create: moto alone let two of four win in some rounds."""
    root = storage.location(RemoteRoot(s3_bucket.name, "team"))
    for round_ in range(60):
        seal = storage.location(root, "datasets", "player", f"v{round_}", storage.MANIFEST)
        wins = at_once(4, lambda i, seal=seal: remote_storage.create(seal, f'{{"by": {i}}}'.encode()))
        assert sorted(map(repr, wins)) == ["False", "False", "False", "True"], (round_, wins)
        key = f"team/datasets/player/v{round_}/manifest.json"
        assert s3_bucket.versions(key) == 1 and s3_bucket.read(key) == f'{{"by": {wins.index(True)}}}'.encode()


def test_an_object_rewritten_while_read_on_the_test_store_reads_whole_with_its_etag(s3_bucket):
    """Two builds write the same partitions while reading them: every GET is one whole version, and its ETag is the
    md5 of those bytes (moto hashes a new object's ETag from the buffer its GETs read, outside their lock)."""
    bodies = [bytes([i]) * (64 * 1024 + i) for i in range(4)]
    expected = {hashlib.md5(body).hexdigest(): body for body in bodies}  # noqa: S324 - S3's ETag of a single PUT
    key = "team/bronze/frames/date=2026-11-01/part.parquet"

    def put_or_get(i: int):
        if i % 2 == 0:
            return s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=bodies[i // 2 % len(bodies)])["ETag"]
        got = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=key)
        return got["ETag"], got["Body"].read()

    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=bodies[0])
    for _ in range(30):
        for result in at_once(8, put_or_get):
            assert not isinstance(result, Exception), result
            if isinstance(result, tuple):
                etag, body = result
                assert expected.get(etag.strip('"')) == body, (etag, len(body))
            else:
                assert result.strip('"') in expected


def conflict_on_creates(s3_bucket, monkeypatch, times: int, rival: bytes | None = None) -> list[str]:
    """S3's answer to a create while another create of the key is in flight (moto never gives it): 409
    ConditionalRequestConflict, as s3fs raises it, to the next ``times`` creates; ``rival`` lands first, if given.
    Returns the keys answered so, as they are."""
    from botocore.exceptions import ClientError
    from s3fs.errors import translate_boto_error

    fs = storage.location(RemoteRoot(s3_bucket.name, "team")).fs
    real, answered = fs.call_s3, []

    def call_s3(method, *args, **kwargs):
        if method == "put_object" and kwargs.get("IfNoneMatch") == "*" and len(answered) < times:
            if rival is not None and not answered:
                s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=kwargs["Key"], Body=rival, IfNoneMatch="*")
            answered.append(kwargs["Key"])
            conflict = {"Error": {"Code": "ConditionalRequestConflict", "Message": "A conflicting operation is in progress"},
                        "ResponseMetadata": {"HTTPStatusCode": 409}}  # fmt: skip
            raise translate_boto_error(ClientError(conflict, "PutObject"))
        return real(method, *args, **kwargs)

    monkeypatch.setattr(fs, "call_s3", call_s3)
    return answered


@pytest.mark.parametrize("rival_won", [True, False])
def test_a_create_answered_409_while_another_create_runs_asks_again(s3_bucket, monkeypatch, rival_won):
    seal = storage.location(RemoteRoot(s3_bucket.name, "team"), "datasets", "player", "v1", storage.MANIFEST)
    answered = conflict_on_creates(s3_bucket, monkeypatch, 1, b'{"by": "rival"}' if rival_won else None)
    assert remote_storage.create(seal, b'{"by": "us"}') is not rival_won  # the other won: published, not an error
    key = "team/datasets/player/v1/manifest.json"
    assert answered == [key] and s3_bucket.versions(key) == 1
    assert s3_bucket.read(key) == (b'{"by": "rival"}' if rival_won else b'{"by": "us"}')


def test_a_create_still_in_conflict_after_its_attempts_fails_and_creates_nothing(s3_bucket, monkeypatch):
    seal = storage.location(RemoteRoot(s3_bucket.name, "team"), "datasets", "player", "v1", storage.MANIFEST)
    answered = conflict_on_creates(s3_bucket, monkeypatch, remote_storage.CONFLICT_ATTEMPTS)
    with pytest.raises(OSError) as raised:
        remote_storage.create(seal, b"{}")
    assert "conflicting operation" in str(raised.value) and len(answered) == remote_storage.CONFLICT_ATTEMPTS
    assert s3_bucket.keys("team/") == []


def test_a_publisher_that_loses_the_race_on_the_manifest_finds_the_version_published(s3_bucket, monkeypatch):
    final = storage.location(RemoteRoot(s3_bucket.name, "team"), "datasets", "player", "0123456789abcdef")

    def fill(manifest: str):
        def write(folder: Path) -> None:
            (folder / "episodes.parquet").write_bytes(b"the same bytes")
            (folder / storage.MANIFEST).write_text(manifest)
        return write

    outcomes = []

    def rival_publishes_first(name: str) -> None:  # between our files and our manifest, another machine publishes
        if name == "ready" and not outcomes:
            outcomes.append(storage.publish_folder(final, fill('{"by": "rival"}'), ready="rival"))

    monkeypatch.setattr(storage, "crash_point", rival_publishes_first)
    assert storage.publish_folder(final, fill('{"by": "us"}'), ready="ready") is False
    assert outcomes == [True]
    key = "team/datasets/player/0123456789abcdef/manifest.json"
    assert s3_bucket.read(key) == b'{"by": "rival"}' and s3_bucket.versions(key) == 1
    team = storage.location(RemoteRoot(s3_bucket.name, "team"))
    assert storage.is_published(final) and [f.name for f in storage.version_folders(team, "player")] == [final.name]
    # a later publish of the same id does not even upload its files again
    assert storage.publish_folder(final, fill("{}"), ready="late") is False
    assert s3_bucket.versions("team/datasets/player/0123456789abcdef/episodes.parquet") == 2


KILLED_PUBLISHER = """
import sys
from pathlib import Path
from capture_agent.config import RemoteRoot
from vectra_pipeline import storage

def fill(folder: Path) -> None:
    (folder / "episodes.parquet").write_bytes(b"rows")
    (folder / storage.MANIFEST).write_text("{}")

final = storage.location(RemoteRoot(sys.argv[1], "team"), "datasets", "player", "feedfacefeedface")
storage.publish_folder(final, fill, ready="dataset:manifest-written")
"""


@pytest.mark.parametrize("publishers", [2, 4])
def test_publishers_of_one_version_at_once_publish_it_once(s3_bucket, publishers):
    """Builds on several machines reaching one dataset version together: one creates its manifest, every other
    finds it published; the version's files are whole whichever uploads landed last."""
    team = storage.location(RemoteRoot(s3_bucket.name, "team"))
    for round_ in range(5):
        final = storage.version_path(team, "player", f"{round_:016x}")

        def publish(i: int, final=final) -> bool:
            def fill(folder: Path) -> None:
                (folder / "episodes.parquet").write_bytes(b"the same rows")
                (folder / storage.MANIFEST).write_text(f'{{"by": {i}}}')
            return storage.publish_folder(final, fill, ready="dataset:manifest-written")

        created = at_once(publishers, publish)
        assert sorted(map(repr, created)) == ["False"] * (publishers - 1) + ["True"], created
        key = f"team/datasets/player/{final.name}/manifest.json"
        assert s3_bucket.versions(key) == 1 and s3_bucket.read(key) == f'{{"by": {created.index(True)}}}'.encode()
        assert s3_bucket.read(f"team/datasets/player/{final.name}/episodes.parquet") == b"the same rows"
    assert len(storage.version_folders(team, "player")) == 5


def test_a_publisher_killed_between_its_files_and_its_manifest_leaves_no_version(tmp_path, s3_bucket):
    env = {**team_env(s3_bucket, tmp_path), "VECTRA_CRASH_AT": "dataset:manifest-written", "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-c", KILLED_PUBLISHER, s3_bucket.name], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert s3_bucket.keys("team/") == ["team/datasets/player/feedfacefeedface/episodes.parquet"]
    team = storage.location(RemoteRoot(s3_bucket.name, "team"))
    assert storage.version_folders(team, "player") == []  # files without a manifest are no version
    # the next publisher of that id uploads again and seals it
    final = storage.version_path(team, "player", "feedfacefeedface")
    assert storage.publish_folder(final, lambda folder: (folder / storage.MANIFEST).write_text('{"id": 1}'), ready="x")
    assert [f.name for f in storage.version_folders(team, "player")] == ["feedfacefeedface"]


def test_unsealed_leftovers_are_collected_once_older_than_the_grace_period(s3_bucket):
    root = storage.location(RemoteRoot(s3_bucket.name, "team"))
    versions = storage.dataset_root(root, "player")
    for name in ("sealed", "unsealed"):
        s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"team/datasets/player/{name}/episodes.parquet", Body=b"x")
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key="team/datasets/player/sealed/manifest.json", Body=b"{}")
    storage.write_json(storage.history_record(root, "player", "20260101T000000.000000Z-sealed.json"), {"id": "sealed"})
    assert storage.collect_leftovers(versions) == []  # young: maybe a publisher still uploading
    later = time.time() + remote_storage.GARBAGE_GRACE_S + 60
    assert remote_storage.collect_garbage(versions, storage.MANIFEST, now_s=later) == ["unsealed"]
    assert s3_bucket.keys("team/datasets/player/") == [
        "team/datasets/player/_history/20260101T000000.000000Z-sealed.json",
        "team/datasets/player/sealed/episodes.parquet",
        "team/datasets/player/sealed/manifest.json",
    ]


def test_a_damaged_landing_object_is_quarantined_on_the_bucket_with_its_reason(tmp_path, s3_bucket):
    local = write_synthetic_capture(tmp_path / "local", 300, date="2026-11-01")
    (good,) = local.segments
    folder = "team/landing/date=2026-11-01"
    s3_bucket.client.upload_file(str(good), s3_bucket.name, f"{folder}/{good.name}")
    damaged = "synthetic-deadbeef-000000.parquet"
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"{folder}/{damaged}", Body=b"PAR1 not a parquet file")

    root = storage.location(RemoteRoot(s3_bucket.name, "team"))
    # uploaded by another tool, without the agent's sha256 metadata: hashed from its bytes
    uploaded = storage.location(root, "landing", "date=2026-11-01", good.name)
    assert storage.file_sha256(uploaded) == hashlib.sha256(good.read_bytes()).hexdigest()
    day = read_landing_day(root, "2026-11-01")
    assert day.segments == 1 and day.frame.height == read_landing_day(tmp_path / "local", "2026-11-01").frame.height > 0
    (rejected,) = day.rejected
    assert rejected.file == f"landing/date=2026-11-01/{damaged}"
    assert rejected.moved_to == f"landing/_rejected/date=2026-11-01/{damaged}"
    assert s3_bucket.keys("team/landing/") == sorted([
        f"{folder}/{good.name}",
        f"team/landing/_rejected/date=2026-11-01/{damaged}",
        f"team/landing/_rejected/date=2026-11-01/{damaged}.reason",
    ])  # fmt: skip
    assert s3_bucket.read(f"team/landing/_rejected/date=2026-11-01/{damaged}") == b"PAR1 not a parquet file"
    # one listing of the whole landing zone finds the segment, never what was set aside under _rejected/
    assert [p.name for p in storage.landing_segments(root)] == [good.name]
    reason = s3_bucket.read(f"team/landing/_rejected/date=2026-11-01/{damaged}.reason").decode()
    assert "not a readable Parquet file" in reason and f"file: landing/date=2026-11-01/{damaged}" in reason


def test_the_landing_sensor_lists_the_bucket_by_name(tmp_path, s3_bucket):
    import dagster as dg

    from vectra_pipeline.defs.resources import VectraPaths
    from vectra_pipeline.defs.sensors import landing_segments

    local = write_synthetic_capture(tmp_path / "local", 200, date="2026-11-01")
    (first,) = local.segments
    s3_bucket.client.upload_file(str(first), s3_bucket.name, f"team/landing/date=2026-11-01/{first.name}")
    paths = VectraPaths(data_dir=f"s3://{s3_bucket.name}/team")
    context = dg.build_sensor_context(resources={"paths": paths})
    assert [r.partition_key for r in landing_segments(context).run_requests] == ["2026-11-01"]
    assert json.loads(context.cursor) == {"2026-11-01": [first.name]}
    # the same object written again (a new LastModified) is no new segment; a new name on another day is
    s3_bucket.client.upload_file(str(first), s3_bucket.name, f"team/landing/date=2026-11-01/{first.name}")
    later = write_synthetic_capture(tmp_path / "later", 200, date="2026-11-02", seed="later")
    s3_bucket.client.upload_file(str(later.segments[0]), s3_bucket.name, f"team/landing/date=2026-11-02/{later.segments[0].name}")
    again = dg.build_sensor_context(cursor=context.cursor, resources={"paths": paths})
    assert [r.partition_key for r in landing_segments(again).run_requests] == ["2026-11-02"]


@pytest.mark.parametrize("when", ["before", "during"])
def test_the_store_down_in_a_build_is_one_line_and_nothing_is_published(tmp_path, s3_bucket, when):
    local = write_synthetic_capture(tmp_path / "local", 2000, date="2026-11-01")
    for segment in local.segments:
        s3_bucket.client.upload_file(str(segment), s3_bucket.name, f"team/landing/date=2026-11-01/{segment.name}")
    server = s3_bucket.server
    if when == "before":
        server.stop()
    try:
        build = subprocess.Popen([*VECTRA, "build", "--data", f"s3://{s3_bucket.name}/team"], cwd=REPO,
                                 env=team_env(s3_bucket, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        if when == "during":  # down as soon as the first table is in the bucket, long before any dataset
            wait_until(lambda: build.poll() is not None or s3_bucket.keys("team/bronze/"), TIMEOUT, "bronze written")
            server.stop()
        out, err = build.communicate(timeout=TIMEOUT)
    finally:
        if not server.running:
            server.start()
    assert build.returncode != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vectra: error: cannot reach {server.endpoint} for s3://"), out + err
    assert lines[0].endswith("check AWS_ENDPOINT_URL and the network, then try again (nothing half-written is ever published)")
    assert "Traceback" not in out + err
    assert s3_bucket.keys("team/datasets/") in ([], ["team/datasets/.landing-sha256.json"])  # no version, no record
    assert_no_secret(out, err)
