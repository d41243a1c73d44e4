import sys
from pathlib import Path

# Helpers of tests/ (realdata, waits, price_engines…) and of tests/pipeline/ (pipeline_kit, shared with gold/) are
# importable as plain modules; test modules never import each other.
TESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(TESTS), str(TESTS / "pipeline")]

from pgkit import postgres  # noqa: E402, F401 - a throwaway PostgreSQL on loopback (the Dagster deployment test)
from price_engines import compiled_replay, replay_engine  # noqa: E402, F401 - fixtures of the fairness tests
from real_captures import real_chains, real_landing  # noqa: E402, F401 - the real captures, imported and built once
from s3kit import s3_bucket, s3_server  # noqa: E402, F401 - moto's S3 server on loopback (upload tests, part B)
from simulated_session import simulated_session  # noqa: E402, F401 - the scripted simulator session, built once
