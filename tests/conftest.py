import sys
from pathlib import Path

# tests/ helpers (realdata) are importable as plain modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgkit import postgres  # noqa: E402, F401 - a throwaway PostgreSQL on loopback (the Dagster deployment test)
from price_engines import compiled_replay, replay_engine  # noqa: E402, F401 - fixtures of the fairness tests
from s3kit import s3_bucket, s3_server  # noqa: E402, F401 - moto's S3 server on loopback (upload tests, part B)
