"""Captures uploading to a bucket: the CLI end to end, the store down mid-capture, kill -9, two machines, no s3fs."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from capture_kit import wait_for
from s3kit import ACCESS_KEY, SECRET_KEY, s3_environment
from waits import wait_until

import capture_agent.session as session_module
from capture_agent.cli import main
from capture_agent.config import RemoteRoot
from capture_agent.landing.segments import segment_paths
from capture_agent.landing.upload import JOURNAL, UploadTarget
from capture_agent.landing.writer import LandingWriter
from capture_agent.live.status import status_line
from capture_agent.session import CaptureOptions, CaptureSession, SimulatorOptions

REPO = Path(__file__).resolve().parents[2]
VECTRA = [sys.executable, "-m", "capture_agent.cli"]


def agent_env(s3_bucket, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(s3_environment(s3_bucket.server), XDG_CONFIG_HOME=str(config), XDG_CACHE_HOME=str(config / "cache"))
    return env


def files_under(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def assert_no_secret(*texts: str | bytes) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        assert SECRET_KEY.encode() not in data and ACCESS_KEY.encode() not in data


def test_vectra_capture_to_an_s3_root_uploads_its_segment_and_writes_no_secret(tmp_path, s3_bucket):
    config, cache = tmp_path / "config", tmp_path / "cache"
    args = ["capture", "--source", "simulator", "--speed", "20", "--bots", "2", "--max-frames", "150", "--no-status"]
    result = subprocess.run(
        [*VECTRA, *args, "--data", f"s3://{s3_bucket.name}/team", "--cache", str(cache)],
        cwd=REPO, env=agent_env(s3_bucket, config), capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert f"uploads to s3://{s3_bucket.name}/team: 1 done, 0 pending" in result.stderr
    agent = (config / "vectra" / "agent-id").read_text().strip()
    (key,) = s3_bucket.keys()
    assert key.startswith("team/landing/date=") and f"-simulator-{agent}-" in key
    body = s3_bucket.read(key)
    assert s3_bucket.head(key)["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert segment_paths(cache) == [] and (cache / JOURNAL).exists()
    assert_no_secret(result.stdout, result.stderr, body, *(p.read_bytes() for p in files_under(cache, config)))


def test_the_capture_goes_on_while_the_store_is_down_and_catches_up_after(tmp_path, s3_bucket, monkeypatch):
    # Segments of 40 rows: a capture publishes several a second, so uploads run while it lands.
    monkeypatch.setattr(session_module, "LandingWriter", functools.partial(LandingWriter, segment_max_rows=40))
    target = UploadTarget(RemoteRoot(s3_bucket.name, "live"), tmp_path / "cache", "aa11bb22", retry_cap_s=0.5)
    said: list[str] = []
    session = CaptureSession(CaptureOptions(target.cache_dir, SimulatorOptions(speed=20, bots=4), upload=target), say=said.append)
    server = s3_bucket.server

    async def scenario():
        task = asyncio.get_running_loop().create_task(session.run())
        figures = session.figures
        await wait_for(lambda: session.uploader is not None and figures().get("uploads_done", 0) >= 2, 90)
        server.stop()
        down_at = session.stats.segments_published
        # Down: the capture keeps landing and publishing; the segments wait in the cache, the user is told once.
        # (Pending counts a segment as soon as it is queued, before the try that fails: wait for the line too.)
        retrying = lambda: any("retrying in the background" in line for line in said)  # noqa: E731
        await wait_for(
            lambda: session.stats.segments_published >= down_at + 3 and figures()["uploads_pending"] >= 2 and retrying(), 90
        )
        shown = figures()  # the status line a user watches says what waits
        assert f"| uploads {shown['uploads_pending']} pending {shown['uploads_done']} done" in status_line(shown)
        server.start()
        await wait_for(lambda: figures()["uploads_pending"] == 0 and figures()["uploads_done"] >= down_at + 3, 90)
        session.stop()
        return await asyncio.wait_for(task, 90)

    try:
        result = asyncio.run(scenario())
    finally:
        if not server.running:
            server.start()
    assert result.uploads.complete and result.uploads.done == result.segments >= 6
    keys = s3_bucket.keys()
    assert len(keys) == result.segments and all(result.capture_id in key for key in keys)
    assert all(s3_bucket.versions(key) == 1 for key in keys)
    assert sum(int(s3_bucket.head(key)["Metadata"]["rows"]) for key in keys) == result.rows
    assert segment_paths(target.cache_dir) == []


def test_after_a_kill_9_during_uploads_the_next_start_finishes_them_and_sends_nothing_twice(tmp_path, s3_bucket):
    cache, config = tmp_path / "cache", tmp_path / "config"
    env = agent_env(s3_bucket, config)
    env["PYTHONPATH"] = str(REPO)
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("upload_kill_child.py")), s3_bucket.name, str(cache), "8"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        def stalled() -> bool:  # the third object is in the bucket, its journal line is not
            assert child.poll() is None, child.stderr.read().decode()
            return (tmp_path / "stalled").exists()

        wait_until(stalled, 120, "the child reaching its third upload")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    stalled = "team/" + (tmp_path / "stalled").read_text()
    assert len(s3_bucket.keys()) == 3 and stalled in s3_bucket.keys()
    assert len(segment_paths(cache)) == 6  # two uploaded and deleted, the stalled one still here
    # The next start of any agent command on this --data and --cache finishes the uploads.
    result = subprocess.run(
        [*VECTRA, "synth", "--frames", "40", "--date", "2026-11-01", "--data", f"s3://{s3_bucket.name}/team", "--cache", str(cache)],
        cwd=REPO, env=agent_env(s3_bucket, config), capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert f"uploads to s3://{s3_bucket.name}/team: 9 done, 0 pending" in result.stderr
    keys = s3_bucket.keys()
    assert len(keys) == 9 and all(s3_bucket.versions(key) == 1 for key in keys)
    assert segment_paths(cache) == []


def test_two_agents_on_two_caches_write_one_bucket_without_a_collision(tmp_path, s3_bucket):
    root = f"s3://{s3_bucket.name}/team"
    agents = []
    for name in ("alice", "bob"):
        command = [*VECTRA, "synth", "--frames", "300", "--date", "2026-11-01", "--data", root, "--cache", str(tmp_path / name / "cache")]
        env = agent_env(s3_bucket, tmp_path / name / "config")
        agents.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [agent.communicate(timeout=180) for agent in agents]
    assert [agent.returncode for agent in agents] == [0, 0], outputs
    ids = [(tmp_path / name / "config" / "vectra" / "agent-id").read_text().strip() for name in ("alice", "bob")]
    assert ids[0] != ids[1]
    keys = s3_bucket.keys("team/landing/date=2026-11-01/")
    assert len(keys) == 2 and {key.split("-synthetic-")[1][:8] for key in keys} == set(ids)
    assert all("collision" not in err.lower() for _, err in outputs)


def test_without_s3fs_an_s3_root_is_one_line_saying_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as on a light agent installed without the s3 extra
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    code = main(["capture", "--source", "simulator", "--max-frames", "5", "--data", "s3://bucket/x", "--cache", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "vectra: error: the object-store support is not installed (s3fs missing): pip install 'vectra[s3]' "
        "(scripts/setup.sh installs every extra)\n"
    )
    assert segment_paths(tmp_path / "c") == []


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (f"s3://{ACCESS_KEY}:{SECRET_KEY}@bucket/x", "must not carry credentials"),
        ("s3://Not_A_Bucket/x", "is not an S3 bucket name"),
        ("ftp://host/x", "ftp://… is not supported"),
    ],
)
def test_a_bad_s3_root_is_one_line_and_never_echoes_a_credential(data, says, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["capture", "--source", "simulator", "--data", data])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and says in err and err.count("\n") == 1
    assert_no_secret(err)


def test_vectra_import_to_an_s3_root_from_vectra_data_uploads_once_and_a_second_import_sends_nothing(
    tmp_path, s3_bucket, monkeypatch, capsys
):
    import io

    import pyarrow.parquet as pq
    from realdata import fixture_files

    (recording,) = [path for path in fixture_files() if path.name.startswith("capture_2025-12-12")]
    monkeypatch.setenv("VECTRA_DATA", f"s3://{s3_bucket.name}/team")  # the root from the environment, not --data
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    cache = tmp_path / "cache"
    assert main(["import", str(recording), "--cache", str(cache)]) == 0
    err = capsys.readouterr().err
    assert f"uploads to s3://{s3_bucket.name}/team: " in err and ", 0 pending" in err
    keys = s3_bucket.keys()
    assert keys and all(key.startswith("team/landing/date=2025-12-") and key.endswith(".parquet") for key in keys)
    for key in keys:  # each object's metadata is what the object holds
        body = s3_bucket.read(key)
        metadata = s3_bucket.head(key)["Metadata"]
        assert metadata["sha256"] == hashlib.sha256(body).hexdigest()
        assert int(metadata["rows"]) == pq.ParquetFile(io.BytesIO(body)).metadata.num_rows > 0
        assert s3_bucket.versions(key) == 1
    assert segment_paths(cache) == []
    # The cache's segments are gone, yet it remembers the import: the same file again lands and sends nothing.
    assert main(["import", str(recording), "--cache", str(cache)]) == 0
    assert f"uploads to s3://{s3_bucket.name}/team: {len(keys)} done, 0 pending" in capsys.readouterr().err
    assert s3_bucket.keys() == keys and all(s3_bucket.versions(key) == 1 for key in keys)
