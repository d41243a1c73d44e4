"""The compiled price replay: builds ``_price_replay.c`` with the system C compiler and loads it with ctypes.

No Python headers and no new dependency. The shared library lives in ``.cache/build/`` under a name made of a digest
of its source and flags, so a library built from an older source is never loaded: :mod:`fairness` then replays in
pure Python and says so once. ``python -m capture_agent.protocol._price_replay`` builds it (``scripts/setup.sh``
does), and does nothing when it is up to date.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
from array import array
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("_price_replay.c")
BUILD_DIR = Path(__file__).resolve().parents[2] / ".cache" / "build"
# Bit-exact with Python needs every double operation rounded in source order: no fused multiply-add (GCC fuses by
# default on some targets, e.g. aarch64), no -ffast-math. -fno-math-errno lets sqrt compile to one instruction
# (no libm); -s keeps only the dynamic symbols.
CFLAGS = ("-std=c11", "-O2", "-fPIC", "-shared", "-ffp-contract=off", "-fno-math-errno", "-s")
_PREFIX = "libvectra_price_replay-"
_TYPICAL_PATH = 256  # prices per game reserved up front (mean ≈ 200, at most 5,001)
_GAMES_PER_CALL = 4096  # bounds the output buffer (≈ 8 MB) whatever the batch size


def library_path(build_dir: Path | None = None) -> Path:
    """Where the library built from today's source and flags lives (in ``.cache/build/`` unless told)."""
    build_dir = build_dir or BUILD_DIR
    digest = hashlib.sha256(SOURCE.read_bytes() + "\0".join(CFLAGS).encode()).hexdigest()[:16]
    return build_dir / f"{_PREFIX}{digest}.so"


def build(build_dir: Path | None = None, compiler: str | None = None) -> Path:
    """Compile the library unless it is up to date; libraries of older sources are removed. Returns its path."""
    target = library_path(build_dir)
    if target.exists():
        try:
            CompiledReplay(target)
            return target
        except (OSError, AttributeError):  # damaged: built again below
            pass
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    partial = Path(name)
    command = [compiler or os.environ.get("CC", "cc"), *CFLAGS, "-o", str(partial), SOURCE.name]
    try:
        # The source is named relative to its folder so nothing of this checkout's path reaches the binary.
        subprocess.run(command, cwd=SOURCE.parent, check=True, capture_output=True, text=True)
        os.replace(partial, target)  # concurrent builds each publish a complete, identical file
    finally:
        partial.unlink(missing_ok=True)
    for stale in target.parent.glob(f"{_PREFIX}*.so"):
        if stale != target:
            stale.unlink(missing_ok=True)
    return target


class CompiledReplay:
    """The loaded library: replays a batch of games in one call (the GIL is released while it runs)."""

    def __init__(self, path: Path) -> None:
        library = ctypes.CDLL(str(path))
        self._replay = library.vectra_price_paths
        self._replay.argtypes = [ctypes.c_int64, ctypes.c_int64, ctypes.c_char_p, ctypes.c_void_p,
                                 ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
        self._replay.restype = ctypes.c_int64
        library.vectra_price_path_capacity.restype = ctypes.c_int64
        self._path_capacity = library.vectra_price_path_capacity()
        self.path = path

    def replay(self, seeds: Sequence[bytes], versions: bytes) -> list[tuple[float, ...]]:
        """The price paths of games seeded with UTF-16-LE ``seeds``, ``versions[k]`` being 1, 2 or 3, in order."""
        count = len(seeds)
        offsets = array("q", [0] * (count + 1))
        for k, seed in enumerate(seeds):
            offsets[k + 1] = offsets[k] + len(seed)
        blob = b"".join(seeds)
        lengths = array("q", [0] * count)
        capacity = min(count, _GAMES_PER_CALL) * _TYPICAL_PATH + self._path_capacity
        out = array("d", bytes(8 * capacity))
        paths: list[tuple[float, ...]] = []
        first = 0
        while first < count:
            after = self._replay(first, count, blob, offsets.buffer_info()[0], versions, out.buffer_info()[0],
                                 capacity, lengths.buffer_info()[0])
            prices = memoryview(out)
            position = 0
            for k in range(first, after):
                paths.append(tuple(prices[position : position + lengths[k]].tolist()))
                position += lengths[k]
            first = after
        return paths


def load(build_dir: Path | None = None) -> CompiledReplay | None:
    """The library built from today's source, or None after a warning that prices replay in pure Python."""
    path = library_path(build_dir)
    if path.exists():
        try:
            return CompiledReplay(path)
        except (OSError, AttributeError) as error:  # not a loadable library, or one without our functions
            problem = f"cannot be loaded ({error})"
    elif any(path.parent.glob(f"{_PREFIX}*.so")):
        problem = "is older than its source"
    else:
        problem = "is not built"
    log.warning("the compiled price replay %s: prices replay in pure Python (same results, ~50x slower); "
                "run `bash scripts/setup.sh` to build it", problem)
    return None


def main() -> int:
    """Build the library for scripts/setup.sh: silent when up to date, one line when built or failed."""
    fresh = library_path().exists()
    try:
        path = build()
    except OSError as error:  # no compiler, or the build folder is not writable
        problem = f"{error.strerror}: {error.filename}"
    except subprocess.CalledProcessError as error:
        lines = error.stderr.splitlines()
        problem = next((line for line in lines if "error" in line), lines[-1] if lines else f"exit {error.returncode}")
    else:
        if not fresh:
            print(f"built the compiled price replay: {path}")
        return 0
    print(f"setup: cannot build the compiled price replay ({problem}); install gcc and libc6-dev", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
