"""Fixtures that run the provably-fair replay through each engine: the compiled library and the Python reference.

``tests/conftest.py`` shares them with every test module.
"""

from __future__ import annotations

import os

import pytest

from capture_agent.protocol import _price_replay, fairness


def setup_required() -> bool:
    """CI (and whoever sets VECTRA_REQUIRE_COMPILED=1) runs scripts/setup.sh first: the library must be there."""
    return bool(os.environ.get("CI") or os.environ.get("VECTRA_REQUIRE_COMPILED"))


@pytest.fixture(scope="session")
def compiled_replay(tmp_path_factory) -> _price_replay.CompiledReplay:
    """The library scripts/setup.sh built, else (setup not re-run since the source changed) one built for the run."""
    installed = _price_replay.library_path()
    if installed.exists():
        return _price_replay.CompiledReplay(installed)
    if setup_required():
        pytest.fail(f"scripts/setup.sh did not build the compiled price replay ({installed} is missing)")
    return _price_replay.CompiledReplay(_price_replay.build(tmp_path_factory.mktemp("price-replay")))


@pytest.fixture(params=["compiled", "reference"])
def replay_engine(request, monkeypatch) -> str:
    """Runs the test once with ``price_path``/``price_paths`` on the compiled library, once on the reference."""
    engine = request.getfixturevalue("compiled_replay") if request.param == "compiled" else None
    monkeypatch.setattr(fairness, "_compiled", lambda: engine)
    return request.param
