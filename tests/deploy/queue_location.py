"""The code location of the queue test: one daily-partitioned job whose only op holds its run open until the test
creates a release file, so the test decides when a run ends instead of guessing how long it takes."""

import time
from pathlib import Path

import dagster as dg

HOLD_LIMIT_S = 300  # a test that died never releases: the run fails instead of holding the server


@dg.op(config_schema={"release": str})
def hold(context: dg.OpExecutionContext) -> str:
    release = Path(context.op_config["release"])
    deadline = time.monotonic() + HOLD_LIMIT_S
    while not release.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{release} never appeared")
        time.sleep(0.1)  # not a wait: the op, run by Dagster away from tests/, holds its date until the test releases it
    return context.partition_key


@dg.job(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-01-01"))
def one_date():
    hold()


defs = dg.Definitions(jobs=[one_date])
