"""The feature spec is well-formed; docs/FEATURES.md is generated from it (tests/pipeline/test_pipeline_docs.py)."""

from __future__ import annotations

from vectra_pipeline.gold.feature_spec import FEATURE_NAMES, FEATURES
from vectra_pipeline.schema import OBSERVATIONS


def test_spec_is_well_formed():
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    for feature in FEATURES:
        assert feature.dtype in ("float32", "float64") and feature.seed in ("kept", "changed", "new")
        assert feature.unit and feature.formula and feature.source and feature.why
    kept = {f.name for f in FEATURES if f.seed in ("kept", "changed")}
    # the seed's features named in the issue, kept or changed
    assert {"game_tick", "price", "phase_code", "connected_players", "cash", "position_qty", "avg_cost",
            "cumulative_pnl", "total_invested", "rugpool_amount", "rugpool_threshold", "instarug_count",
            "average_multiplier", "count_2x", "count_10x", "count_50x", "count_100x", "highest_today",
            "price_velocity", "price_acceleration", "unrealized_pnl", "position_pnl_pct", "rugpool_ratio",
            "balance_at_risk", "ticks_in_position", "ticks_since_last_action", "last_bet_amount",
            "last_slippage_ticks", "last_exec_price_ratio", "last_ack_latency_ms"} <= kept


def test_the_observations_table_holds_the_spec_in_order_with_its_dtypes():
    columns = [(c.name, str(c.dtype)) for c in OBSERVATIONS.columns]
    expected = [(f.name, "Float32" if f.dtype == "float32" else "Float64") for f in FEATURES]
    assert columns[2:2 + len(FEATURES)] == expected and [name for name, _ in columns[:2]] == ["game_id", "tick"]
