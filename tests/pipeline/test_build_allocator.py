"""``vectra build`` returns freed memory to the system as polars frees it (jemalloc read its setting when polars
loads: the command sets it before), and a setting of the user's is kept."""

from __future__ import annotations

import os
import subprocess
import sys

import realdata

from vectra_pipeline.commands.build import ALLOCATOR

_BUILD_THEN_POLARS = """
import argparse, os
from capture_agent.errors import VectraError
from vectra_pipeline.commands import build
try:
    build.run(argparse.Namespace(data=os.environ["ROOT"], date=None, all=True, jobs=1, verbose=False))
except VectraError:
    pass  # nothing to build there: only the setting is looked at
import polars
print(os.environ[ALLOCATOR_NAME])
"""


def _setting_polars_loaded_with(tmp_path, **env: str) -> str:
    code = _BUILD_THEN_POLARS.replace("ALLOCATOR_NAME", repr(ALLOCATOR[0]))
    base = {k: v for k, v in os.environ.items() if k != ALLOCATOR[0]}
    done = subprocess.run([sys.executable, "-c", code], cwd=realdata.REPO, env={**base, "ROOT": str(tmp_path), **env},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_the_build_returns_freed_memory_at_once(tmp_path):
    assert _setting_polars_loaded_with(tmp_path).endswith(ALLOCATOR[1])


def test_a_users_allocator_setting_is_kept(tmp_path):
    mine = "dirty_decay_ms:2000"
    assert _setting_polars_loaded_with(tmp_path, **{ALLOCATOR[0]: mine}).endswith(mine)
