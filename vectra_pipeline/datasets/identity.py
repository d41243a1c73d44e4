"""A dataset version's id, and the explicit versions of the code that made it.

Every stage — a pure module that turns frames into a table — declares ``VERSION``, bumped when its output would
change for the same input (``tests/pipeline/test_stage_versions.py`` fails when an output changes without it, and
says how to bump and regenerate). Those versions, never source bytes, are the code's identity: each asset's Dagster
``code_version`` is its stage's, and the **code version** of a build is a digest of all of them.

The **id** of a dataset version is sha256 of what it is made of: the landing segment files and their sha256, the
days, the code version, the feature spec version and the parameters. Same inputs → same id (the version is reused,
never rewritten); any change → a new id. Editing a docstring or moving a file changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from types import ModuleType

from vectra_pipeline.bronze import frames
from vectra_pipeline.datasets import contents
from vectra_pipeline.datasets.contents import DatasetParams
from vectra_pipeline.gold import crowd, episodes, leaderboard, market, observations, player_games
from vectra_pipeline.gold.feature_spec import FEATURE_SPEC_VERSION
from vectra_pipeline.silver import actions, events, game_history, games, player_state, sidebets, ticks, trades

# Each stage and the assets it makes (tables, or the published dataset).
STAGES: dict[ModuleType, tuple[str, ...]] = {
    frames: ("frames",),
    events: ("events", "quarantine"),
    game_history: ("game_history",),
    ticks: ("game_ticks", "cooldowns"),
    games: ("games",),
    trades: ("trades",),
    sidebets: ("sidebets",),
    player_state: ("player_state",),
    actions: ("actions",),
    market: ("market_episodes", "market_observations"),
    episodes: ("episodes",),
    observations: ("observations",),
    leaderboard: ("leaderboard",),
    crowd: ("crowd_observations", "crowd_episodes"),
    player_games: ("player_games",),
    contents: ("training_dataset",),
}


def stage_name(module: ModuleType) -> str:
    return module.__name__.removeprefix("vectra_pipeline.")


def stage_versions() -> dict[str, int]:
    """``{"silver.games": 1, …}``: every stage's declared version."""
    return {stage_name(module): module.VERSION for module in STAGES}


def asset_code_version(asset: str) -> str:
    """The Dagster ``code_version`` of an asset: the version of the stage that makes it."""
    return next(str(module.VERSION) for module, assets in STAGES.items() if asset in assets)


def code_version() -> str:
    """A digest of every stage version: equal code versions build equal outputs from equal inputs."""
    return hashlib.sha256(json.dumps(stage_versions(), sort_keys=True).encode()).hexdigest()[:16]


def dataset_id(inputs: list[dict], partitions: list[str], params: DatasetParams, code: str | None = None) -> str:
    """The version id: same inputs, code, feature spec and parameters → same id."""
    identity = {
        "inputs": [[f["path"], f["sha256"]] for f in sorted(inputs, key=lambda f: f["path"])],
        "partitions": sorted(partitions),
        "feature_spec_version": FEATURE_SPEC_VERSION,
        "code_version": code or code_version(),
        "parameters": params.as_dict(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
