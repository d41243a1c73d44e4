"""The one way any part of Vectra reaches an object store: clients configured from the standard ``AWS_*`` variables.

Credentials, region and endpoint (``AWS_ENDPOINT_URL`` for an S3-compatible store) are read from the environment by
each client itself and never passed through, printed or stored here: a data root is only ``s3://bucket/prefix``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from capture_agent.errors import VectraError, first_line


def s3_filesystem(*, use_listings_cache: bool = True, **config_kwargs):
    """An ``s3fs.S3FileSystem`` on the ``AWS_*`` environment (a fresh instance: tests and agents change the endpoint
    between calls); ``config_kwargs`` go to botocore (timeouts, retries). ``use_listings_cache=False`` lists the
    store on every call: what a reader of keys other machines write needs."""
    from capture_agent.extras import require

    require("s3", ("s3fs",), what="object-store support")
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=use_listings_cache,
                             config_kwargs=config_kwargs or None)


def polars_storage_options() -> dict[str, str]:
    """What polars' own (Rust) S3 client needs beyond the ``AWS_*`` variables it reads itself: plain HTTP allowed
    when the endpoint is an ``http://`` one (a store on loopback or a LAN)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    options = {"aws_endpoint_url": endpoint} if endpoint else {}
    if endpoint.startswith("http://"):
        options["aws_allow_http"] = "true"
    return options


@dataclass(frozen=True)
class S3Access:
    """Credentials, region and endpoint resolved from the environment for a client that cannot read ``AWS_*``
    itself (DuckDB's httpfs). Held in memory only; never shown (``repr`` leaves the secrets out)."""

    key_id: str = field(repr=False)
    secret: str = field(repr=False)
    token: str | None = field(repr=False)
    region: str
    endpoint: str


def s3_access() -> S3Access:
    """What botocore's credential chain (the ``AWS_*`` variables, a profile, an instance role) resolves to now."""
    import botocore.session
    from botocore.exceptions import NoCredentialsError

    session = botocore.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise NoCredentialsError()
    frozen = credentials.get_frozen_credentials()
    region = session.get_config_variable("region") or "us-east-1"
    return S3Access(frozen.access_key, frozen.secret_key, frozen.token, region, os.environ.get("AWS_ENDPOINT_URL", ""))


@contextlib.contextmanager
def store_errors(root: str):
    """Inside: a store that cannot be reached or refuses us (:func:`store_failure`) becomes one line; any other
    error passes unchanged."""
    try:
        yield
    except Exception as error:
        line = store_failure(error, root)
        if line is None:
            raise
        raise line from None


def store_failure(error: BaseException, root: str) -> VectraError | None:
    """What went wrong reaching the store under ``root`` (``s3://bucket/prefix``) as one line that says what to check,
    or None when ``error`` is not the store's (a local disk error stays what it is). Read from the exception types
    botocore, aiohttp and s3fs raise and, for errors another layer wrapped (a Dagster step), from their names and
    text. The libraries' messages name the endpoint or the bucket at most, never a credential."""
    from botocore.exceptions import BotoCoreError, NoCredentialsError, PartialCredentialsError

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
    name, text = type(error).__name__, str(error)
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)) or "Unable to locate credentials" in text:
        return VectraError(
            f"no credentials for {root}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), "
            "and AWS_ENDPOINT_URL for an S3-compatible store"
        )
    if isinstance(error, PermissionError) or any(code in text for code in _REFUSALS):
        return VectraError(
            f"{endpoint} refused access to {root} ({first_line(error)}): check AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY and the bucket's permissions"
        )
    if "NoSuchBucket" in text or (isinstance(error, FileNotFoundError) and "bucket does not exist" in text):
        return VectraError(f"{root}: {first_line(error)} at {endpoint}: check the bucket name and AWS_ENDPOINT_URL")
    if isinstance(error, (BotoCoreError, ConnectionError)) or any(word in name for word in _UNREACHABLE_TYPES) \
            or any(words in text for words in _UNREACHABLE_TEXTS):
        return VectraError(
            f"cannot reach {endpoint} for {root} ({first_line(error)}): check AWS_ENDPOINT_URL and the network, "
            "then try again (nothing half-written is ever published)"
        )
    return None


_REFUSALS = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken")
_UNREACHABLE_TYPES = ("EndpointConnectionError", "ConnectTimeout", "ClientConnector", "ReadTimeout", "ServerDisconnected")
_UNREACHABLE_TEXTS = ("Could not connect to the endpoint", "Connection refused", "Cannot connect to host")
