"""One gold step alone on a built data root, in this process: wall and CPU seconds, peak RSS (``ru_maxrss``) and the
RSS after imports — a step's own footprint, which a whole build's figures mix with what earlier steps left.

    .venv/bin/python benchmarks/bench_gold_step.py DATA_ROOT crowd_observations --date 2025-12-20
    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/bench_gold_step.py DATA_ROOT crowd_observations   # older code

Steps: the assets market_episodes, market_observations, crowd_observations, crowd_episodes (materialised through
Dagster in-process; they rewrite their partition, so run them on a copy of the root) and the checks
market_observations_finite, crowd_rewards_exact (evaluated on the built partitions). Run each step in a fresh
process (one per command) and alternate before/after: the peak is the process's.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

ASSETS = ("market_episodes", "market_observations", "crowd_observations", "crowd_episodes")
CHECKS = ("market_observations_finite", "crowd_rewards_exact")


def _peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root")
    parser.add_argument("step", choices=ASSETS + CHECKS)
    parser.add_argument("--date", default="2025-12-20")
    args = parser.parse_args()

    import dagster as dg

    from vectra_pipeline.defs.assets import gold
    from vectra_pipeline.defs.checks import gold as gold_checks
    from vectra_pipeline.defs.partitions import register_days
    from vectra_pipeline.defs.resources import VectraPaths

    imports_mb, started, cpu = _peak_mb(), time.perf_counter(), _cpu_s()
    paths = VectraPaths(data_dir=args.root)
    if args.step in ASSETS:
        asset = getattr(gold, args.step)
        instance = dg.DagsterInstance.ephemeral()
        register_days(instance, [args.date])
        result = dg.materialize(
            [asset], selection=[asset.key], partition_key=args.date, instance=instance, resources={"paths": paths}
        )
        passed = result.success
    else:  # the check's body on the built partitions (a check alone cannot be selected without its asset's run)
        check = getattr(gold_checks, args.step).op.compute_fn.decorated_fn
        passed = check(argparse.Namespace(partition_key=args.date), paths).passed
    print(
        json.dumps(
            {
                "step": args.step,
                "passed": passed,
                "seconds": round(time.perf_counter() - started, 2),
                "cpu_s": round(_cpu_s() - cpu, 2),
                "peak_mb": _peak_mb(),
                "imports_mb": imports_mb,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
