"""The object-store side of :mod:`vectra_pipeline.storage`: a data root ``s3://bucket/prefix`` and its files.

A remote path is a ``UPath`` (universal-pathlib) on the one S3 client of :mod:`capture_agent.object_store`, so
callers keep using ``/``, ``.name``, ``.parent`` and ``.exists()`` on paths of either kind. What differs is here:

* a file is one object written by one PUT (or one multipart completion): it is built in a local temp folder and
  uploaded whole, never renamed — a PUT is atomic, so readers never see half an object and a killed writer leaves
  nothing to sweep. Every object written carries its ``sha256`` in its metadata, as the capture agent's segments do.
* a folder that must appear whole (a dataset version, its Minari export) is uploaded file by file, then *sealed* by
  one object created last with a conditional create (``If-None-Match: *``): the folder exists only if its seal does.
  Unsealed leftovers of a dead publisher are garbage once older than :data:`GARBAGE_GRACE_S` (a live publisher
  writing for longer than that is not expected: versions hold one dataset's files).
* listings list keys (no directories on S3: a "folder" is a key prefix), never trusting cached listings, since other
  machines write the same bucket.

Credentials are never seen here: the client reads the ``AWS_*`` environment itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from capture_agent import object_store
from capture_agent.config import RemoteRoot, parse_data_root
from capture_agent.landing.upload import file_sha256  # the agent's: the same sha256 metadata as its segments
from capture_agent.object_store import s3_filesystem

GARBAGE_GRACE_S = 3600.0
CONFLICT_ATTEMPTS = 5  # a create racing another create of its key is asked again, after 0.1, 0.2, 0.4, 0.8 s
CONFLICT_BACKOFF_S = 0.1
SEAL_COMPLETE = b'{"complete": true}\n'
_ROOTS: dict[tuple[str, int, str], object] = {}


def remote_of(root) -> RemoteRoot | None:
    """The :class:`RemoteRoot` a root names (a RemoteRoot, an ``s3://`` string or remote path), else None."""
    if isinstance(root, RemoteRoot):
        return root
    if isinstance(root, str) and root.startswith("s3://"):
        return parse_data_root(root)
    if is_remote(root):
        return parse_data_root(str(root))
    return None


def store_errors(root):
    """Inside, under a remote root: the store down or refusing us becomes one line that says what to do
    (``object_store.store_errors``); nothing changes under a local root."""
    named = remote_of(root)
    return contextlib.nullcontext() if named is None else object_store.store_errors(named.url)


def is_remote(path) -> bool:
    if isinstance(path, (Path, str)):  # the local case never imports universal-pathlib
        return False
    from upath.implementations.cloud import S3Path

    return isinstance(path, S3Path)


def root_path(remote: RemoteRoot):
    """The root as a UPath on the shared client (one per process and endpoint: a client is costly to start, and a
    forked or spawned worker must make its own)."""
    key = (remote.url, os.getpid(), os.environ.get("AWS_ENDPOINT_URL", ""))
    path = _ROOTS.get(key)
    if path is None:
        from upath import UPath

        path = UPath(remote.url)
        # UPath would make its own client from storage options; every path joined from this one shares ours.
        path._fs_cached = s3_filesystem(use_listings_cache=False, connect_timeout=5, read_timeout=60,
                                        retries={"max_attempts": 3})
        _ROOTS[key] = path
    return path


def relative(root, path) -> str:
    return path.path.removeprefix(root.path).lstrip("/")


# -- listing -------------------------------------------------------------------------------------------------------

def entries(folder) -> list[tuple[str, bool]]:
    """(name, is a folder) of what is directly under ``folder``; nothing when it holds nothing."""
    try:
        listed = folder.fs.ls(folder.path, detail=True, refresh=True)
    except FileNotFoundError:
        return []
    return sorted((item["name"].rstrip("/").rsplit("/", 1)[-1], item["type"] == "directory") for item in listed)


def files(folder) -> list:
    return [folder / name for name, is_folder in entries(folder) if not is_folder]


def subfolders(folder) -> list:
    return [folder / name for name, is_folder in entries(folder) if is_folder and not name.startswith(".")]


def keys_under(folder) -> list[dict]:
    """Every object under ``folder`` (recursively), with its fsspec details (size, LastModified)."""
    try:
        return list(folder.fs.find(folder.path, detail=True).values())
    except FileNotFoundError:
        return []


def partition_dates(folder, part_file: str) -> list[str]:
    """Dates ``D`` of the ``date=D/<part_file>`` objects under a table's folder (one listing)."""
    keys = (item["name"].split("/")[-2:] for item in keys_under(folder))
    return sorted(day.removeprefix("date=") for day, name in keys if day.startswith("date=") and name == part_file)


def landing_segments(landing, date: str | None, is_segment: Callable) -> list:
    """The objects named as segments in ``landing/date=D/`` (one date or all), sorted by date and name: one
    recursive listing, however many dates (the sensor asks every 30 s; ``_rejected/`` is deeper and skipped)."""
    found = []
    for item in keys_under(landing / f"date={date}" if date else landing):
        parts = item["name"].removeprefix(landing.path).strip("/").split("/")
        if len(parts) == 2 and parts[0].startswith("date="):
            found.append(landing / parts[0] / parts[1])
    return sorted((p for p in found if is_segment(p)), key=lambda p: (p.parent.name, p.name))


def stat(path) -> tuple[int, int]:
    """(bytes, last modified ns) of an object."""
    info = path.fs.info(path.path)
    modified = info.get("LastModified")
    return int(info["size"]), int(modified.timestamp() * 1e9) if modified else 0


# -- writing -------------------------------------------------------------------------------------------------------

def upload(local: Path, path, *, exclusive: bool = False) -> bool:
    """Send a local file to ``path`` in one request (one PUT, or one multipart completion), its sha256 in the
    metadata. ``exclusive``: only when no object holds the key (False when one does, and nothing changed)."""
    metadata = {"sha256": file_sha256(local)}
    if not exclusive:
        path.fs.put_file(str(local), path.path, Metadata=metadata)
        return True
    with open(local, "rb") as source:
        return create(path, source.read(), metadata)


def create(path, data: bytes, metadata: dict | None = None) -> bool:
    """Create a small object with ``If-None-Match: *``; False when one already holds the key.

    S3 answers 409 ConditionalRequestConflict, not 412, to a create that races another create of the same key (two
    builds sealing one version): asked again, it says whether the other one won (412) or the key is still free."""
    metadata = metadata or {"sha256": hashlib.sha256(data).hexdigest()}
    attempts = 0
    while True:
        handle = path.fs.open(path.path, "xb", Metadata=metadata)
        handle.write(data)
        try:
            handle.close()
            return True
        except FileExistsError:
            return False
        except OSError as error:
            attempts += 1
            if not _is_conflict(error) or attempts == CONFLICT_ATTEMPTS:
                raise
            time.sleep(CONFLICT_BACKOFF_S * 2 ** (attempts - 1))


def _is_conflict(error: OSError) -> bool:
    """Whether s3fs's error is S3's 409 ConditionalRequestConflict (its botocore error is the cause)."""
    response = getattr(error.__cause__, "response", None) or {}
    return response.get("Error", {}).get("Code") == "ConditionalRequestConflict"


def put_bytes(path, data: bytes) -> None:
    path.fs.pipe_file(path.path, data, Metadata={"sha256": hashlib.sha256(data).hexdigest()})


def written_locally(path, write: Callable[[Path], None]) -> None:
    """``write(local_file)`` in a local temp folder, then the file uploaded to ``path`` whole."""
    with tempfile.TemporaryDirectory(prefix="vectra-") as folder:
        local = Path(folder) / path.name
        write(local)
        upload(local, path)


def publish_folder(final, fill: Callable[[Path], None], seal: str, before_seal: Callable[[], None]) -> bool:
    """Fill a local temp folder, upload every file but ``seal``, then create ``seal`` (the filled one, or a small
    marker) exclusively. Returns False when the seal was there already: another writer published this folder."""
    if exists(final / seal):
        return False
    with tempfile.TemporaryDirectory(prefix="vectra-") as folder:
        local = Path(folder)
        fill(local)
        for file in sorted(p for p in local.rglob("*") if p.is_file() and p.relative_to(local).as_posix() != seal):
            upload(file, final.joinpath(*file.relative_to(local).parts))
        before_seal()
        sealed = local / seal
        return upload(sealed, final / seal, exclusive=True) if sealed.exists() else create(final / seal, SEAL_COMPLETE)


def exists(path) -> bool:
    """Whether an object holds exactly this key (a folder's prefix is not enough)."""
    return path.fs.isfile(path.path)


def collect_garbage(parent, seal: str, now_s: float | None = None) -> list[str]:
    """Delete the unsealed folders under ``parent`` (leftovers of dead publishers) whose newest object is older than
    the grace period, from one listing; returns their names. A folder still being written is younger: left alone."""
    now_s = time.time() if now_s is None else now_s
    folders: dict[str, list[dict]] = {}
    for item in keys_under(parent):
        folder, _, rest = item["name"].removeprefix(parent.path + "/").partition("/")
        if rest and not folder.startswith(("_", ".")):  # _history: publish records, no version
            folders.setdefault(folder, []).append(item)
    removed = []
    for folder, objects in sorted(folders.items()):
        if any(item["name"] == f"{parent.path}/{folder}/{seal}" for item in objects):
            continue
        if now_s - max(item["LastModified"].timestamp() for item in objects) > GARBAGE_GRACE_S:
            parent.fs.rm([item["name"] for item in objects])
            removed.append(folder)
    return removed


def move(path, target) -> None:
    """Copy, then delete (S3 has no rename): a failure between the two leaves the object where it was, too."""
    path.fs.copy(path.path, target.path)
    path.fs.rm_file(path.path)


# -- reading -------------------------------------------------------------------------------------------------------

def open_binary(path):
    return path.fs.open(path.path, "rb")


def stored_sha256(path) -> str:
    """The sha256 its writer stored in the object's metadata (the capture agent, or :func:`upload`), else hashed."""
    stored = path.fs.metadata(path.path).get("sha256")
    if stored:
        return stored
    with open_binary(path) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
