"""Nobody can collide with the warehouse: a user's read-write DuckDB client, a query during a build, a copied root.

The premise is checked first: the client really holds DuckDB's lock (a read-only open in another process fails).
`vectra build` then swaps a fresh warehouse in without opening the held file, and `vectra query` runs on private
in-memory views, so both succeed while the client keeps working on its old file.
"""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
import time

import duckdb
import polars as pl
import pytest
from outputs_kit import DAYS, REPO, run_vectra, small_landing, vectra_command, vectra_env

from vectra_pipeline.build import build
from vectra_pipeline.commands.query import query
from vectra_pipeline.warehouse import warehouse_path

# A user's notebook: opens the warehouse read-write (DuckDB's default), reads a view, writes a table of its own
# (a WAL beside the file), then holds the connection until told to finish and reads again on it.
HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], config={"file_search_path": sys.argv[2]})
games = con.execute("SELECT count(*) FROM games").fetchone()[0]
con.execute("CREATE TABLE my_notes AS SELECT 42 AS x")
print("ready", games, flush=True)
sys.stdin.readline()
print("still", con.execute("SELECT count(*) FROM games").fetchone()[0], con.execute("SELECT x FROM my_notes").fetchone()[0], flush=True)
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = small_landing(tmp_path_factory.mktemp("locks") / "data")
    summary = build(root, list(DAYS))
    assert summary.ok, summary.failed_runs
    games = query(root, "SELECT count(*) FROM games")[1][0][0]
    return root, games


def _line(process: subprocess.Popen, timeout: float = 120) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the DuckDB client did not answer"
    return process.stdout.readline().strip()


def test_a_client_holding_the_warehouse_read_write_blocks_neither_build_nor_query(built, tmp_path):
    root, games = built
    env = vectra_env(tmp_path / "dagster_home")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(warehouse_path(root)), str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert _line(holder) == f"ready {games}"
        with pytest.raises(duckdb.IOException, match="lock"):  # the premise: the lock is really held
            duckdb.connect(str(warehouse_path(root)), read_only=True)
        held_inode = warehouse_path(root).stat().st_ino

        built_again = run_vectra(env, "build", "--data", str(root))
        assert built_again.returncode == 0, built_again.stdout + built_again.stderr
        asked = run_vectra(env, "query", "SELECT count(*) AS n FROM games", "--data", str(root))
        assert asked.returncode == 0, asked.stderr
        assert asked.stdout == f"n\n{games}\n"  # into a pipe: CSV

        assert warehouse_path(root).stat().st_ino != held_inode  # a fresh file was swapped in
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert _line(holder) == f"still {games} 42"  # the client's own file and table are untouched
    finally:
        holder.kill()
        holder.wait()
    # once the client is gone, the new file opens like any DuckDB database, from the data root
    with duckdb.connect(str(warehouse_path(root)), read_only=True, config={"file_search_path": str(root)}) as con:
        assert con.execute("SELECT count(*) FROM games").fetchone()[0] == games


def test_queries_during_a_build_never_fail_it(built, tmp_path):
    root, games = built
    env = vectra_env(tmp_path / "dagster_home")
    expected = query(root, "SELECT (SELECT count(*) FROM games), (SELECT count(*) FROM frames), (SELECT count(*) FROM datasets)")[1]
    build_process = subprocess.Popen(vectra_command("build", "--data", str(root)), cwd=REPO, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    answers, during = [], 0
    deadline = time.monotonic() + 600
    while build_process.poll() is None and time.monotonic() < deadline:
        answers.append(query(root, "SELECT (SELECT count(*) FROM games), (SELECT count(*) FROM frames), (SELECT count(*) FROM datasets)")[1])
        during += build_process.poll() is None  # this answer came while the build was still running
    _, errors = build_process.communicate(timeout=600)
    assert build_process.returncode == 0, errors
    assert during >= 1 and all(answer == expected for answer in answers), (during, answers[:3], expected)
    # the CLI too, once more after the build
    assert run_vectra(env, "query", "SELECT count(*) FROM frames", "--data", str(root)).returncode == 0


def test_a_copied_root_reads_its_own_files(built, tmp_path):
    root, games = built
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    part = copy / "silver" / "games" / f"date={DAYS[0]}" / "part.parquet"
    pl.read_parquet(part).slice(1).write_parquet(part)  # one game fewer, in the copy only

    assert query(copy, "SELECT count(*) FROM games")[1][0][0] == games - 1
    assert query(root, "SELECT count(*) FROM games")[1][0][0] == games
    # the copied warehouse file follows the root it is opened from...
    with duckdb.connect(str(warehouse_path(copy)), read_only=True, config={"file_search_path": str(copy)}) as con:
        assert con.execute("SELECT count(*) FROM games").fetchone()[0] == games - 1
        distinct = "SELECT DISTINCT path FROM datasets ORDER BY path"  # DISTINCT alone has no order
        assert con.execute(distinct).fetchall() == query(copy, distinct)[1]
    # ...and never silently reads another root: without one it finds no files
    with duckdb.connect(str(warehouse_path(copy)), read_only=True) as con, pytest.raises(duckdb.IOException, match="No files found"):
        con.execute("SELECT count(*) FROM games").fetchone()
