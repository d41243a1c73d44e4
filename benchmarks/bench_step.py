"""One pipeline step alone on a built data root, in this process: wall and CPU seconds (its worker processes'
included), peak RSS (``ru_maxrss``), its largest worker's and all its processes' at once (sampled: see
``process_memory``) and the RSS after imports — a step's own footprint, which a whole build's figures mix with what
earlier steps left.

    .venv/bin/python benchmarks/bench_step.py DATA_ROOT leaderboard --date 2025-12-20
    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/bench_step.py DATA_ROOT leaderboard   # older code

Steps: any asset of the pipeline by name (``frames``, ``events`` — decode_events, with ``quarantine`` —,
``leaderboard``, ``crowd_observations``, ``training_dataset``, ``minari_datasets``…), materialised through Dagster
in-process with the other outputs of its step; they rewrite what they build (``training_dataset`` publishes only
when the root's ``datasets/`` holds no version of the same inputs, ``minari_datasets`` exports only versions without
``minari/``), so run them on a copy of the root. And the checks market_observations_finite, crowd_rewards_exact
(evaluated on the built partitions). Run each step in a fresh process (one per command) and alternate before/after:
the peak is the process's. The allocators are set as ``vectra build`` sets them (``commands.build.set_allocators``:
pyarrow on jemalloc since round six), so a step alone and in the chain are comparable.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process_memory import RssSampler  # noqa: E402

CHECKS = ("market_observations_finite", "crowd_rewards_exact")


def _peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _cpu_s() -> float:
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root")
    parser.add_argument("step", help=f"an asset's name, or a check: {', '.join(CHECKS)}")
    parser.add_argument("--date", default="2025-12-20")
    args = parser.parse_args()

    from vectra_pipeline.commands.build import set_allocators

    set_allocators()  # polars' and pyarrow's allocators as `vectra build` runs them (before either loads)
    import dagster as dg

    from vectra_pipeline.defs.assets import ASSETS
    from vectra_pipeline.defs.checks import gold as gold_checks
    from vectra_pipeline.defs.partitions import register_days
    from vectra_pipeline.defs.resources import VectraPaths

    imports_mb, started, cpu = _peak_mb(), time.perf_counter(), _cpu_s()
    sampler = RssSampler()
    sampler.start()
    paths = VectraPaths(data_dir=args.root)
    assets = {key.to_user_string(): asset for asset in ASSETS for key in asset.keys}
    if args.step in assets:
        asset = assets[args.step]
        instance = dg.DagsterInstance.ephemeral()
        register_days(instance, [args.date])
        partition = {"partition_key": args.date} if asset.partitions_def else {}
        result = dg.materialize(
            [asset], selection=list(asset.keys), instance=instance, resources={"paths": paths}, **partition
        )
        passed = result.success
    elif args.step in CHECKS:  # the check's body on the built partitions (a check alone cannot be selected without its asset's run)
        check = getattr(gold_checks, args.step).op.compute_fn.decorated_fn
        passed = check(argparse.Namespace(partition_key=args.date), paths).passed
    else:
        parser.error(f"no step {args.step!r}: an asset ({', '.join(assets)}) or a check ({', '.join(CHECKS)})")
    sampler.done.set()
    sampler.join()
    print(
        json.dumps(
            {
                "step": args.step,
                "passed": passed,
                "seconds": round(time.perf_counter() - started, 2),
                "cpu_s": round(_cpu_s() - cpu, 2),
                "peak_mb": _peak_mb(),
                "imports_mb": imports_mb,
                "largest_worker_mb": round(sampler.largest_child_mb or 0),
                "all_processes_mb": round(sampler.tree_peak_mb),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
