"""The raw Parquet landing zone: one row per captured frame or connection event, written verbatim.

Layout under ``<data>/landing/``::

    date=YYYY-MM-DD/<capture_id>-<segment:06d>.parquet   published segments (zstd, LANDING_SCHEMA, immutable)
    date=YYYY-MM-DD/.<capture_id>-<segment:06d>.parquet.tmp   the segment being written (hidden from readers)
    _wal/<capture_id>-<segment:06d>.wal                  write-ahead log of the open segment (locked while live)

Modules, in the order a row passes them: ``schema`` (the row contract, ``FrameMeta``), ``rows`` (pure: a frame,
lifecycle event or click → its row, redacted), ``writer`` (:class:`~capture_agent.landing.writer.LandingWriter`:
seq, durability, rolling), ``wal`` (record format, the live WAL file, the reader), ``segments`` (layout, streaming
Parquet, atomic publish, ``segment_paths``, ``read_landing``), ``recovery`` (``recover``: the WALs of agents that
died); and the bulk producers ``importer`` (``vectra import``) and ``synthetic`` (``vectra synth``).

Guarantees: seq is gapless per capture and follows call order; every row is in the WAL (checksummed records,
fsynced at least every ``fsync_interval_s``) before its segment exists; a segment is published by an atomic
link/rename after an fsync, never spans two UTC dates and is never modified; its WAL goes only afterwards.
After a crash, :func:`~capture_agent.landing.recovery.recover` publishes each dead capture's WAL once (rows
already published are recognised by seq), cuts a torn tail and closes the capture with a ``gap`` row.
"""
