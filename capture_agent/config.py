"""Settings shared by every command: where the data lives, where this user's agent keeps its own state.

A data root is a local folder or an object-store prefix (``s3://bucket/prefix``). Credentials and the endpoint of
an object store come from the standard ``AWS_*`` variables only (``AWS_ENDPOINT_URL`` for an S3-compatible store):
they are never part of a data root, so nothing that prints or stores a root can leak them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from capture_agent.errors import VectraError

DATA_ENV = "VECTRA_DATA"
DEFAULT_DATA = "./vectra_data"
AGENT_ID_FILE = "agent-id"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_PART = re.compile(r"^[A-Za-z0-9!_.*'()=-]+$")
_AGENT_ID = re.compile(r"^[0-9a-f]{8}$")


@dataclass(frozen=True)
class RemoteRoot:
    """An object-store data root: ``s3://bucket`` or ``s3://bucket/prefix`` (no trailing slash)."""

    bucket: str
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def object_url(self, relative: str) -> str:
        """The URL of a file at ``relative`` (e.g. ``landing/date=…/….parquet``) under this root."""
        return f"{self.url}/{relative}"

    def __str__(self) -> str:
        return self.url


def parse_data_root(text: str) -> Path | RemoteRoot:
    """A ``--data`` value: a local path, or an ``s3://`` root checked here so a typo is one line, not a bucket."""
    scheme, separator, rest = text.partition("://")
    if not separator:
        return Path(text)
    if scheme != "s3":
        raise VectraError(f"--data {scheme[:20]}://… is not supported: use a local folder or s3://bucket/prefix")
    bucket, _, path = rest.partition("/")
    if "@" in bucket:  # never echo what came before the '@': it may be a secret key
        raise VectraError(
            "--data must not carry credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL "
            "for an S3-compatible store) in the environment instead"
        )
    if not _BUCKET.match(bucket):
        raise VectraError(f"--data: {bucket[:70]!r} is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
    pieces = [piece for piece in path.split("/") if piece]
    for piece in pieces:
        if piece in (".", "..") or not _PREFIX_PART.match(piece):
            raise VectraError(f"--data: the prefix part {piece[:70]!r} is not a plain folder name (letters, digits, !_.*'()=-)")
    return RemoteRoot(bucket, "/".join(pieces))


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA)


def add_data_argument(parser: argparse.ArgumentParser, *, remote: bool = False) -> None:
    """``--data DIR`` for every command that reads or writes data (default ./vectra_data, env VECTRA_DATA).

    With ``remote``, ``s3://bucket/prefix`` is accepted too (the value is then a :class:`RemoteRoot`); a command
    that cannot work on one yet refuses it in one line rather than writing to a local folder named ``s3:``."""

    def data_root(text: str) -> Path | RemoteRoot:
        try:
            root = parse_data_root(text)
        except VectraError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        if isinstance(root, RemoteRoot) and not remote:
            raise argparse.ArgumentTypeError(f"{root}: this command works on a local data root only, for now")
        return root

    parser.add_argument(
        "--data",
        type=data_root,
        default=os.environ.get(DATA_ENV) or DEFAULT_DATA,  # a string default goes through ``type`` too
        metavar="DIR" if not remote else "DIR|s3://BUCKET/PREFIX",
        help=f"data root (default: ${DATA_ENV} or {DEFAULT_DATA})",
    )


def add_cache_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="with an s3:// --data: the local folder for the WAL and segments not uploaded yet "
        "(default ~/.cache/vectra/<hash of the data root>)",
    )


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value and Path(value).is_absolute() else Path.home() / fallback


def user_config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / "vectra"


def user_cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache") / "vectra"


def default_cache_dir(remote: RemoteRoot) -> Path:
    """One cache per remote root, so two roots never share pending uploads."""
    return user_cache_dir() / hashlib.sha256(remote.url.encode()).hexdigest()[:16]


def agent_id(config_dir: Path | None = None) -> str:
    """This machine's agent id: 8 hex digits made once and kept in the user's config dir. Capture ids carry it,
    so captures of two machines uploading to one bucket never share a name."""
    folder = config_dir or user_config_dir()
    path = folder / AGENT_ID_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            temp = folder / f".{AGENT_ID_FILE}.{secrets.token_hex(8)}.tmp"
            temp.write_text(secrets.token_hex(4) + "\n")
            try:
                os.link(temp, path)  # the first of two racing agents wins; the other reads its id
            except FileExistsError:
                pass
            finally:
                temp.unlink()
        text = path.read_text().strip()
    except OSError as error:
        raise VectraError(f"cannot keep this agent's id in {path}: {error.strerror or error}") from None
    if not _AGENT_ID.match(text):
        raise VectraError(f"{path} is damaged (not 8 hex digits): delete it and the next run makes a new agent id")
    return text
