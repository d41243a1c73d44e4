"""The gold checks that scan a day's observation rows (``*_finite``, ``crowd_rewards_exact``) stream only the columns
they need; they must still catch what a whole read caught: hypothesis writes hostile partitions (NaN, ±inf, nulls,
a reward nudged past the tolerance, an episode's return or P&L tampered) and each check's verdict and counts must be
those computed here from the whole table with numpy."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vectra_pipeline import storage
from vectra_pipeline.defs.checks.gold import _crowd_rewards, _finite
from vectra_pipeline.defs.resources import VectraPaths
from vectra_pipeline.gold.carry import REWARD_TOLERANCE_SOL
from vectra_pipeline.gold.feature_spec import MARKET_FEATURE_NAMES

DAY = "2025-12-20"
HOSTILE = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([float("nan"), float("inf"), -float("inf"), None])
)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(data=st.data())
def test_finite_check_counts_what_numpy_counts_on_the_whole_table(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("finite")
    rows = data.draw(st.integers(1, 40))
    spoiled = data.draw(st.sets(st.sampled_from(MARKET_FEATURE_NAMES), max_size=4))
    columns = {
        name: data.draw(st.lists(HOSTILE, min_size=rows, max_size=rows)) if name in spoiled else [0.5] * rows
        for name in MARKET_FEATURE_NAMES
    }
    is_final = data.draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
    reward = data.draw(st.lists(HOSTILE, min_size=rows, max_size=rows))
    table = pl.DataFrame(
        {"game_id": ["g"] * rows, "tick": list(range(rows)), **columns, "is_final": is_final, "reward": reward},
        schema_overrides={name: pl.Float64 for name in [*MARKET_FEATURE_NAMES, "reward"]},
    )
    storage.write_table(root, "market_observations", DAY, table)
    written = storage.read_table(root, "market_observations", DAY)
    matrix = written.select(MARKET_FEATURE_NAMES).to_numpy()  # the whole read: nulls become NaN
    expected = {
        name: int((~np.isfinite(matrix[:, i])).sum())
        for i, name in enumerate(MARKET_FEATURE_NAMES)
        if not np.isfinite(matrix[:, i]).all()
    }
    transitions = written.filter(~pl.col("is_final"))["reward"]
    expected_rewards = int((~np.isfinite(transitions.to_numpy())).sum()) + transitions.null_count()

    result = _finite(VectraPaths(data_dir=str(root)), "market_observations", DAY, MARKET_FEATURE_NAMES)
    assert result.metadata["non_finite_by_feature"].value == expected
    assert result.metadata["bad_rewards"].value == expected_rewards
    assert result.metadata["rows"].value == rows
    assert result.passed == (not expected and expected_rewards == 0)


TRAJECTORY = st.lists(st.floats(-5.0, 5.0, allow_nan=False), min_size=1, max_size=12)


@SETTINGS
@given(rewards=st.lists(TRAJECTORY, min_size=1, max_size=8), data=st.data())
def test_crowd_rewards_check_finds_every_broken_trajectory(tmp_path_factory, rewards, data):
    root = tmp_path_factory.mktemp("crowd")
    rows, episodes = [], []
    for index, steps in enumerate(rewards):
        game, player = f"g{index % 3}", f"p{index}"
        start = data.draw(st.one_of(st.none(), st.floats(-10.0, 10.0)))
        for tick, step in enumerate(steps):
            rows.append({"game_id": game, "player_id": player, "tick": tick, "reward": step, "is_final": False})
        rows.append({"game_id": game, "player_id": player, "tick": len(steps), "reward": None, "is_final": True})
        total = float(np.sum(steps))
        episodes.append(
            {
                "game_id": game,
                "player_id": player,
                "start_pnl": start,
                "end_pnl": (start or 0.0) + total,
                "episode_return": total,
            }
        )
    broken = data.draw(st.sets(st.integers(0, len(rewards) - 1)))
    for index in broken:  # one of the three ways a trajectory's sums can disagree
        how = data.draw(st.sampled_from(["row", "return", "end"]))
        nudge = data.draw(st.sampled_from([1e-6, -0.5, 3.0]))
        if how == "row":
            row = next(r for r in rows if r["player_id"] == f"p{index}" and not r["is_final"])
            row["reward"] += nudge
        else:
            episodes[index]["episode_return" if how == "return" else "end_pnl"] += nudge
    storage.write_table(root, "crowd_observations", DAY, pl.DataFrame(rows))
    storage.write_table(root, "crowd_episodes", DAY, pl.DataFrame(episodes))

    result = _crowd_rewards(VectraPaths(data_dir=str(root)), DAY)
    found = {tuple(key) for key in result.metadata["broken"].value}
    assert found == {(f"g{index % 3}", f"p{index}") for index in broken}
    assert result.passed == (not broken)
    assert result.metadata["trajectories"].value == len(rewards)
    assert 1e-6 > REWARD_TOLERANCE_SOL  # the smallest nudge is one the check must see
