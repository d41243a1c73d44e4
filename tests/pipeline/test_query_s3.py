"""``vectra query`` and ``vectra game`` on an ``s3://bucket/prefix`` root, against moto's S3 server on loopback.

A root is built locally from the real captures (the pure chain's tables, a player's gold games and a published
dataset version) and uploaded as the remote build would leave it; the answers read through the bucket must be the
local answers. The warehouse file stays on this machine and never holds a credential; a store that is down, a
missing bucket or missing credentials are one line; what is uploaded later is seen by the next query.
"""

from __future__ import annotations

import csv
import io
import json

import duckdb
import pytest
from dataset_versions import player_version
from s3kit import ACCESS_KEY, SECRET_KEY

from capture_agent.cli import main
from capture_agent.config import RemoteRoot
from capture_agent.errors import VectraError
from capture_agent.object_store import S3Access, s3_access, s3_filesystem
from vectra_pipeline import storage, warehouse
from vectra_pipeline.gold.player_games import build_player_games

PREFIX = "team/vectra"
COMPARED = ("frames", "events", "games", "game_ticks", "trades", "player_games")


@pytest.fixture(scope="module")
def local_root(real_chains, tmp_path_factory):
    """A built root of every real capture date: the chain's tables, each date's player games, a dataset version."""
    root = tmp_path_factory.mktemp("built")
    for date, chain in sorted(real_chains.items()):
        for name in ("frames", "events", "game_history", "game_ticks", "games", "trades", "sidebets", "actions"):
            storage.write_table(root, name, date, getattr(chain, name))
        storage.write_table(root, "player_games", date, build_player_games(chain.trades, chain.sidebets, chain.games))
    player_version(root, games=4, seed=3)
    return root


@pytest.fixture
def remote(s3_bucket, local_root, tmp_path, monkeypatch) -> RemoteRoot:
    """The local root uploaded under ``s3://<bucket>/team/vectra`` (what the remote build leaves there); this
    test's own cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = RemoteRoot(s3_bucket.name, PREFIX)
    s3_filesystem().put(f"{local_root}/", f"{root.url}/", recursive=True)
    return root


def _csv(capsys, *argv) -> list[list[str]]:
    code = main(["query", *argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    return list(csv.reader(io.StringIO(out.out, newline="")))


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and "Traceback" not in out.err and SECRET_KEY not in out.err + out.out
    return out.err


def test_every_table_and_the_datasets_view_answer_as_the_local_root(remote, local_root, capsys):
    for table in COMPARED:
        sql = f"SELECT date, count(*) AS n, count(DISTINCT game_id) AS games FROM {table} GROUP BY 1 ORDER BY 1"
        if table == "frames":
            sql = "SELECT date, count(*) AS n, sum(seq) AS seqs FROM frames GROUP BY 1 ORDER BY 1"
        here = _csv(capsys, sql, "--data", str(local_root))
        assert len(here) > 1 and int(here[1][1]) > 0, table
        assert _csv(capsys, sql, "--data", remote.url) == here, table
    sql = "SELECT name, id, path, rows, episodes_total, partitions FROM datasets"
    published = _csv(capsys, sql, "--data", str(local_root))
    assert len(published) == 2 and published[1][2].startswith("datasets/player/")
    assert _csv(capsys, sql, "--data", remote.url) == published


def test_the_warehouse_file_is_local_reads_the_bucket_and_holds_no_credential(remote, s3_bucket, tmp_path, capsys):
    answer = _csv(capsys, "SELECT count(*) FROM games", "--data", remote.url)
    path = warehouse.warehouse_path(remote)
    assert path.is_relative_to(tmp_path / "cache") and path.is_file()
    assert not [key for key in s3_bucket.keys() if "warehouse" in key]  # never written to the bucket
    for written in (tmp_path / "cache").rglob("*"):
        if written.is_file():
            assert SECRET_KEY.encode() not in written.read_bytes() and ACCESS_KEY.encode() not in written.read_bytes()
    views = json.loads(path.with_name(warehouse.VIEWS_RECORD).read_text())
    assert f"'{remote.url}/silver/games/date=*/[!.]*.parquet'" in views["games"]
    with duckdb.connect(str(path), read_only=True) as connection:  # a client of the file only needs the store
        connection.register_filesystem(s3_filesystem())
        assert [[str(n)] for (n,) in connection.execute("SELECT count(*) FROM games").fetchall()] == answer[1:]


def test_vectra_game_shows_the_same_game_from_the_bucket(remote, local_root, tmp_path, capsys):
    sql = ("SELECT game_id, player_id FROM player_games JOIN game_ticks USING (game_id) "
           "GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1")  # a trader of the longest game
    game, player = _csv(capsys, sql, "--data", str(local_root))[1]
    shown = {}
    for name, root in (("local", str(local_root)), ("remote", remote.url)):
        assert main(["game", game, "--player", player, "--data", root, "--png", str(tmp_path / f"{name}.png")]) == 0
        shown[name] = capsys.readouterr().out.replace(str(tmp_path / f"{name}.png"), "chart.png")
    assert shown["remote"] == shown["local"] and "P&L" in shown["local"]
    assert (tmp_path / "remote.png").read_bytes() == (tmp_path / "local.png").read_bytes()


def test_what_is_uploaded_later_is_seen_by_the_next_query(remote, local_root, real_chains, tmp_path, capsys):
    fs = s3_filesystem()
    dates = storage.table_dates(local_root, "games")
    late = dates[-1]
    assert len(dates) >= 2
    for table in ("games", "player_games"):  # the last date's partitions arrive after the first query
        fs.rm(f"{remote.url}/{storage.relative(local_root, storage.table_path(local_root, table, late))}")
    sql = "SELECT date::VARCHAR AS date FROM games GROUP BY 1 ORDER BY 1"
    assert [row[0] for row in _csv(capsys, sql, "--data", remote.url)[1:]] == dates[:-1]
    assert "cooldowns" not in json.loads(warehouse.warehouse_path(remote).with_name(warehouse.VIEWS_RECORD).read_text())

    fs.put(str(storage.table_path(local_root, "games", late)), f"{remote.url}/silver/games/date={late}/part.parquet")
    later = tmp_path / "later"  # a table the root did not have: its first partition
    storage.write_table(later, "cooldowns", late, real_chains[late].cooldowns)
    fs.put(str(storage.table_path(later, "cooldowns", late)), f"{remote.url}/silver/cooldowns/date={late}/part.parquet")
    assert [row[0] for row in _csv(capsys, sql, "--data", remote.url)[1:]] == dates
    expected = str(real_chains[late].cooldowns.height)
    assert _csv(capsys, "SELECT count(*) FROM cooldowns", "--data", remote.url)[1] == [expected]
    assert "cooldowns" in json.loads(warehouse.warehouse_path(remote).with_name(warehouse.VIEWS_RECORD).read_text())


def test_a_store_that_is_down_or_refuses_is_one_line_that_says_what_to_check(remote, s3_bucket, monkeypatch, capsys):
    query = ["query", "SELECT count(*) FROM games", "--data"]
    err = _one_line_error(capsys, [*query, f"s3://{s3_bucket.name}-missing/{PREFIX}"])
    assert "check the bucket name" in err
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    assert "no credentials for" in _one_line_error(capsys, [*query, remote.url])
    assert "no credentials for" in _one_line_error(capsys, ["game", "x", "--data", remote.url])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    s3_bucket.server.stop()
    try:
        err = _one_line_error(capsys, [*query, remote.url])
        assert f"cannot reach {s3_bucket.server.endpoint} for {remote.url}" in err and "AWS_ENDPOINT_URL" in err
    finally:
        s3_bucket.server.start()
    assert _csv(capsys, "SELECT count(*) > 0 FROM games", "--data", remote.url)[1] == ["true"]


def test_the_httpfs_secret_is_temporary_and_follows_the_endpoint(s3_bucket):
    access = s3_access()
    assert (access.key_id, access.secret, access.endpoint) == (ACCESS_KEY, SECRET_KEY, s3_bucket.server.endpoint)
    assert SECRET_KEY not in repr(access) and ACCESS_KEY not in repr(access)
    statement = warehouse.secret_statement(access)
    assert statement.startswith("CREATE OR REPLACE TEMPORARY SECRET ")  # in memory only, never in a database file
    host = s3_bucket.server.endpoint.removeprefix("http://")
    assert f"ENDPOINT '{host}'" in statement and "USE_SSL false" in statement and "URL_STYLE 'path'" in statement
    on_aws = warehouse.secret_statement(S3Access("AKIA", "it's", "token", "eu-west-1", ""))
    assert "SECRET 'it''s'" in on_aws and "SESSION_TOKEN 'token'" in on_aws and "ENDPOINT" not in on_aws


def test_a_cache_folder_that_cannot_be_written_is_one_line_about_the_disk(remote, tmp_path, monkeypatch, capsys):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    err = _one_line_error(capsys, ["query", "SELECT 1", "--data", remote.url])
    assert f"cannot keep the warehouse file {blocked}/" in err and "reach" not in err

@pytest.mark.parametrize(
    ("raised", "says"),
    [
        (PermissionError("The AWS Access Key Id you provided does not exist in our records."), "refused access to"),
        (PermissionError("SignatureDoesNotMatch"), "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"),
        (FileNotFoundError("The specified bucket does not exist"), "check the bucket name"),
        (ConnectionResetError(104, "Connection reset by peer"), "cannot reach"),
        (duckdb.IOException("IO Error: Python exception: ReadTimeoutError"), "cannot read s3://"),
    ],
)
def test_what_the_store_or_duckdb_raise_becomes_one_line(monkeypatch, raised, says):
    """The store's refusals moto cannot play (it accepts any key): each is one line naming what to check."""
    root = RemoteRoot("team-bucket", PREFIX)

    def refuse(*_args, **_kwargs):
        raise raised

    monkeypatch.setattr(warehouse, "view_statements", refuse)
    with pytest.raises(VectraError) as caught:
        warehouse.connect(root)
    message = str(caught.value)
    assert says in message and root.url in message and "\n" not in message
