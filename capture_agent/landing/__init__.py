"""The raw Parquet landing zone: one row per captured frame or connection event, written verbatim."""
