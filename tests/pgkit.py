"""A throwaway PostgreSQL server on loopback for the deployment tests (Debian's ``postgresql``, set up by
scripts/setup.sh). PostgreSQL refuses to run as root and CI runs as root, so under root every server command runs
as the ``postgres`` user; its folders live in a fresh temporary directory that user owns. Trust authentication on
127.0.0.1 only, no fsync: a test server, never a store of anything.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from ports import free_port

USER = "vectra"


def _server_binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed: run scripts/setup.sh (it installs Debian's postgresql)", pytrace=False)
    return Path(found[-1]).parent


@dataclass
class Postgres:
    host: str
    port: int
    user: str

    def query(self, sql: str, db_name: str = "postgres") -> list[tuple]:
        """One statement outside any transaction (CREATE DATABASE refuses one); its rows, if any."""
        import psycopg2

        connection = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=db_name)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()


@pytest.fixture(scope="session")
def postgres():
    binaries = _server_binaries()
    as_server_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="vectra-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if as_server_user:
        for path in (root, sockets):
            shutil.chown(path, "postgres", "postgres")

    def server(*command: str) -> None:
        subprocess.run([*as_server_user, *command], check=True, capture_output=True, timeout=300)

    port = free_port()
    try:
        server(str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off"
        server(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", options, "-w", "-t", "240", "start")
    except subprocess.CalledProcessError as error:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {error.stderr.decode(errors='replace').strip()}", pytrace=False)
    try:
        yield Postgres("127.0.0.1", port, USER)
    finally:
        server(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
