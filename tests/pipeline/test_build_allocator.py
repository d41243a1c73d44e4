"""``vectra build`` returns freed memory to the system as polars frees it (jemalloc read its setting when polars
loads: the command sets it before), runs pyarrow on its jemalloc pool (mimalloc keeps what its threads freed), and a
setting of the user's is kept."""

from __future__ import annotations

import os
import subprocess
import sys

import realdata

from vectra_pipeline.commands.build import ALLOCATOR, ARROW_POOL

_BUILD_THEN_POLARS = """
import argparse, os
from capture_agent.errors import VectraError
from vectra_pipeline.commands import build
try:
    build.run(argparse.Namespace(data=os.environ["ROOT"], date=None, all=True, jobs=1, verbose=False))
except VectraError:
    pass  # nothing to build there: only the setting is looked at
import polars, pyarrow
print(pyarrow.default_memory_pool().backend_name, os.environ[ALLOCATOR_NAME])
"""


def _settings_loaded_with(tmp_path, **env: str) -> tuple[str, str]:
    """pyarrow's pool and polars' jemalloc setting in a process that ran the build command."""
    code = _BUILD_THEN_POLARS.replace("ALLOCATOR_NAME", repr(ALLOCATOR[0]))
    base = {k: v for k, v in os.environ.items() if k not in (ALLOCATOR[0], ARROW_POOL[0])}
    done = subprocess.run([sys.executable, "-c", code], cwd=realdata.REPO, env={**base, "ROOT": str(tmp_path), **env},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    pool, polars_setting = done.stdout.strip().splitlines()[-1].split(" ", 1)
    return pool, polars_setting


def test_the_build_returns_freed_memory_at_once_and_runs_pyarrow_on_jemalloc(tmp_path):
    pool, polars_setting = _settings_loaded_with(tmp_path)
    assert pool == ARROW_POOL[1] and polars_setting.endswith(ALLOCATOR[1])  # polars puts its defaults before ours


def test_a_users_allocator_settings_are_kept(tmp_path):
    mine = "dirty_decay_ms:2000"
    pool, polars_setting = _settings_loaded_with(tmp_path, **{ALLOCATOR[0]: mine, ARROW_POOL[0]: "system"})
    assert pool == "system" and polars_setting.endswith(mine)
