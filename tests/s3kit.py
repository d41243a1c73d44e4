"""A real S3 endpoint on loopback for tests: moto's server mode (never the in-process ``mock_aws``, which clients
that bring their own HTTP stack — polars' Rust reader — bypass).

``s3_server`` (session) runs ``moto.server.ThreadedMotoServer`` on 127.0.0.1 and can be stopped and started again
on the same port, its buckets kept (the store going down mid-capture). ``s3_bucket`` (per test) points the standard
``AWS_*`` variables at it and makes a fresh, versioned bucket: a second successful PUT of one key would leave a
second version, so ``versions()`` proves "uploaded once" on the server's side.

moto's server answers each request in a thread of its own, and its S3 backend is not atomic where S3 is: two
``If-None-Match: *`` creates of one key can both succeed (two winners in 1 of 200 rounds of four at once; in two
of three runs of test_s3_root's 60 rounds), and a new object's ETag is hashed, outside the lock its GETs take, from
the buffer they read (moto 5.2.5): a GET whose read falls just after that hash gets 0 bytes of the object (shown by
holding a GET between its seek and its read), so a build reading a partition the other build has just rewritten
would read an empty file. The server here handles one request at a time, so concurrent clients (two builds on one
bucket) meet S3's guarantees, not moto's races.
"""

from __future__ import annotations

import logging
import secrets
import threading
import urllib.request
from dataclasses import dataclass

import pytest
from ports import free_port

# Values no test ever expects to see again: anything that finds them on disk or in output found a leak.
ACCESS_KEY = "AKIAVECTRATESTKEY000"
SECRET_KEY = "vectra-secret-" + "s3cr3t" * 4


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        wsgi = self._server._server  # werkzeug's server: each request handler calls its ``app`` then
        wsgi.app = one_request_at_a_time(wsgi.app)
        urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=30).close()  # answers before tests use it

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None


def one_request_at_a_time(app):
    """The WSGI ``app`` behind one lock: a request is handled whole (body read, backend changed, response built)
    before the next begins, as atomic as S3's own requests are."""
    lock = threading.Lock()

    def serialised(environ, start_response):
        with lock:
            return app(environ, start_response)

    return serialised


@pytest.fixture(scope="session")
def s3_server():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = S3Server()
    server.start()
    yield server
    server.stop()


@dataclass
class Bucket:
    name: str
    server: S3Server
    client: object  # a boto3 S3 client: the tests' own view of the store

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def versions(self, key: str) -> int:
        listed = self.client.list_object_versions(Bucket=self.name, Prefix=key)
        return sum(1 for version in listed.get("Versions", []) if version["Key"] == key)

    def head(self, key: str) -> dict:
        return self.client.head_object(Bucket=self.name, Key=key)

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


def s3_environment(server: S3Server) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": server.endpoint,
    }


@pytest.fixture
def s3_bucket(s3_server, monkeypatch, tmp_path):
    import boto3

    if not s3_server.running:  # a test that stopped it failed before starting it again
        s3_server.start()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name, value in s3_environment(s3_server).items():
        monkeypatch.setenv(name, value)
    name = f"vectra-{secrets.token_hex(4)}"
    client = boto3.client("s3", endpoint_url=s3_server.endpoint)
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return Bucket(name, s3_server, client)
