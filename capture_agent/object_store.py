"""The one way any part of Vectra reaches an object store: clients configured from the standard ``AWS_*`` variables.

Credentials, region and endpoint (``AWS_ENDPOINT_URL`` for an S3-compatible store) are read from the environment by
each client itself and never passed through, printed or stored here: a data root is only ``s3://bucket/prefix``.
"""

from __future__ import annotations

import os


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
