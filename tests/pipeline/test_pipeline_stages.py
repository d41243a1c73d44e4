"""The pure stages on every real capture (imported with the landing importer), without Dagster."""

from __future__ import annotations

import orjson
import polars as pl
import pytest
import realdata

from capture_agent.protocol.fairness import price_path
from capture_agent.protocol.game import frame_shape, phase
from capture_agent.protocol.socketio import decode_frame
from vectra_pipeline.schema import TABLES, conform
from vectra_pipeline.silver import events as events_stage


@pytest.fixture
def chains(real_chains):
    return real_chains  # shared with the other modules on the real captures (tests/real_captures.py): read only


def _all(chains, name: str) -> pl.DataFrame:
    return pl.concat([getattr(chain, name) for chain in chains.values()])


def test_every_table_matches_its_declared_schema(chains):
    from vectra_pipeline.gold.lookahead import SILVER_INPUTS, gold_tables
    from vectra_pipeline.gold.player_games import build_player_games

    for chain in chains.values():
        gold = gold_tables({name: getattr(chain, name) for name in SILVER_INPUTS})
        gold["player_games"] = build_player_games(chain.trades, chain.sidebets, chain.games)
        for name, table in TABLES.items():
            if table.stage in ("bronze", "silver"):
                assert getattr(chain, name).schema == table.schema, name
            elif table.stage == "gold":
                assert gold[name].schema == table.schema, name


def test_no_unexplained_quarantine_on_real_captures(chains):
    quarantine = _all(chains, "quarantine")
    unexplained = quarantine.filter(~pl.col("explained"))
    assert unexplained.height == 0, unexplained.select("capture_id", "seq", "rule", "detail").to_dicts()
    # what is quarantined comes from the hand transcriptions, and says so
    assert quarantine.height >= 1
    assert quarantine["explanation"].str.contains("transcription").all()


def test_every_frame_is_decoded_and_nothing_dropped(chains):
    for chain in chains.values():
        frames = chain.frames.filter(pl.col("record_type") == "frame")
        decoded = chain.events.select("capture_id", "seq").unique()
        assert decoded.height == frames.height


def test_phase_and_shape_of_every_real_frame_come_from_protocol_game(chains):
    states = _all(chains, "events").filter(pl.col("event") == "gameStateUpdate")
    assert states.height >= 600
    frames = _all(chains, "frames_with_text").select("capture_id", "seq", "payload_text")
    joined = states.join(frames, on=["capture_id", "seq"])
    for text, shape, state_phase in joined.select("payload_text", "frame_shape", "phase").iter_rows():
        (packet,) = decode_frame(text)
        assert shape == frame_shape(packet.payload).value
        assert state_phase == phase(packet.payload).value
    # presale frames are presale (the peer project called them cooldown)
    assert states.filter(pl.col("allow_pre_round_buys") & (pl.col("frame_shape") == "presale"))["phase"].eq("presale").all()


def test_fast_game_state_decoder_agrees_with_the_codec_on_every_real_frame(chains):
    frames = _all(chains, "frames_with_text").filter(pl.col("payload_text").str.starts_with(events_stage._GSU_PREFIX))
    assert frames.height >= 600
    for text in frames["payload_text"]:
        fast = events_stage._fast_game_state(text)
        assert fast is not None
        values = dict(zip(events_stage._FAST_COLUMNS, fast))
        (packet,) = decode_frame(text)
        slow = events_stage._packet_row(("c", 0, 0, 0, "in", "websocket"), 0, packet)
        row = dict(zip(events_stage.DECODED_COLUMNS, slow))
        for column in ("game_id", "frame_shape", "phase", *events_stage._GSU_FIELDS, "has_game_history", "has_prices"):
            assert values[column] == row[column], column
        pairs = sorted(zip(values["_ticks"], values["_prices"])) if values["_ticks"] is not None else None
        assert pairs == ([(p["tick"], p["price"]) for p in row["partial_prices"]] if row["partial_prices"] is not None else None)
        assert row["type_errors"] is None
    # events keep the payload of state frames with gameHistory/prices (it parses to the codec's payload); a plain
    # state frame's text is in bronze only (its typed columns carry the rest)
    events = _all(chains, "events").filter(pl.col("event") == "gameStateUpdate")
    joined = events.join(_all(chains, "frames_with_text"), on=["capture_id", "seq"]).select(
        "payload_json", "has_game_history", "has_prices", "partial_prices", "payload_text"
    )
    assert joined["payload_json"].is_not_null().sum() >= 10
    for payload_json, has_history, has_prices, partial_prices, text in joined.iter_rows():
        payload = decode_frame(text)[0].payload
        if has_history or has_prices:
            assert orjson.loads(payload_json) == payload
        else:
            assert payload_json is None and "gameHistory" not in payload and "prices" not in payload
        values = (payload.get("partialPrices") or {}).get("values")
        expected = sorted((int(k), float(v)) for k, v in values.items()) if values is not None else None
        assert ([(p["tick"], p["price"]) for p in partial_prices] if partial_prices is not None else None) == expected


def test_games_equal_their_history_entries_and_verify(chains):
    games = _all(chains, "games")
    ticks = _all(chains, "game_ticks")
    history = {g["gameId"]: g for g in realdata.games() if g["kind"] == "gameHistory" and g.get("prices")}
    matched = 0
    for row in games.filter(pl.col("game_id").is_in(list(history))).iter_rows(named=True):
        entry = history[row["game_id"]]
        matched += 1
        assert row["rug_tick"] == entry["rug_tick"] == len(entry["prices"]) - 1
        assert row["peak"] == entry["peakMultiplier"]
        assert row["rug_price"] == entry["prices"][-1]
        path = ticks.filter(pl.col("game_id") == row["game_id"]).sort("tick")
        assert path["tick"].to_list() == list(range(len(entry["prices"])))
        assert path["price"].to_list() == [float(p) for p in entry["prices"]]
        assert row["fair_verified"] is True and row["seed_hash_ok"] is True
        assert row["server_seed"] == entry["serverSeed"]
    # every history entry with prices that a real frame carried (the others come from held-back captures)
    carried = {
        entry["id"]
        for _, record in realdata.event_records()
        if record["event"] == "gameStateUpdate" and isinstance(record.get("data"), dict)
        for entry in record["data"].get("gameHistory") or []
        if entry.get("prices")
    }
    assert matched == len(carried & set(history)) >= 30


def test_history_only_games_are_rows_flagged_with_real_paths(chains):
    games = _all(chains, "games")
    history_only = games.filter(pl.col("history_only"))
    assert history_only.height >= 30
    assert (history_only["completeness"] == "history_only").all()
    assert history_only["first_seen_ns"].is_null().all()
    ticks = _all(chains, "game_ticks")
    with_prices = history_only.filter(pl.col("rug_tick").is_not_null())
    sources = ticks.filter(pl.col("game_id").is_in(with_prices["game_id"].implode()))["price_source"].unique().to_list()
    assert sources == ["history"]
    # Feb 2026 history entries carry no prices: still rows, verified by the replayed peak
    no_prices = history_only.filter(pl.col("rug_tick").is_null() & pl.col("server_seed").is_not_null())
    assert no_prices.height >= 1
    assert no_prices["fair_verified"].all()


def test_observed_game_ticks_follow_the_protocol(chains):
    ticks = _all(chains, "game_ticks")
    assert ticks.select("game_id", "tick").is_unique().all()
    observed = ticks.filter(pl.col("price_source") == "observed")
    assert observed.height >= 300 and observed["recv_wall_ns"].is_not_null().all()
    assert ticks.filter(pl.col("price_source") != "observed")["recv_wall_ns"].is_null().all()
    rug = ticks.filter(pl.col("is_rug_tick"))
    assert (rug["phase"] == "rugged").all() and (ticks.filter(~pl.col("is_rug_tick"))["phase"] == "active").all()
    assert (rug["price"] <= 0.02 * (1 + 1e-9)).all()


def test_completeness_of_observed_games(chains):
    games = _all(chains, "games").filter(~pl.col("history_only"))
    assert set(games["completeness"]) <= {"complete", "gapped", "partial_start", "partial_end"}
    complete = games.filter(pl.col("completeness") == "complete")
    assert complete.height >= 1
    assert (complete["ticks_observed"] == complete["ticks_expected"]).all()
    # a capture that joined mid-game starts partial
    assert (games["completeness"] == "partial_start").any()


def test_trades_match_the_real_broadcasts(chains):
    trades = _all(chains, "trades")
    records = [r for _, r in realdata.event_records() if r["event"] in ("standard/newTrade", "newTrade") and isinstance(r.get("data"), dict)]
    assert trades["trade_id"].n_unique() == len({r["data"]["id"] for r in records})
    for row in trades.iter_rows(named=True):
        assert row["type"] in ("buy", "sell", "short_open", "short_close")
    own = trades.filter(pl.col("is_own"))
    assert own.height >= 1  # the transcribed session's own buy (its playerUpdate names the player)


def test_sidebets_settle_by_the_inclusive_window(chains):
    bets = _all(chains, "sidebets").filter(pl.col("status") != "placed")
    assert bets.height >= 1000
    settled = bets.filter(pl.col("rug_tick").is_not_null())
    wins = settled.filter(pl.col("status") == "won")
    assert (wins["rug_tick"] <= wins["end_tick"]).all()
    assert (settled.filter(pl.col("status") == "lost")["payout"] == 0).all()
    assert (bets["end_tick"] == bets["start_tick"] + 40).all()


def test_player_state_and_actions_on_the_transcribed_session(chains):
    state = _all(chains, "player_state")
    assert set(state["source"]) >= {"playerUpdate", "gameStatePlayerUpdate"}
    # the transcript's gameStatePlayerUpdate lags the playerUpdate after a buy: recorded, not averaged
    assert state["disagreement"].is_not_null().any()
    actions = _all(chains, "actions")
    buy = actions.filter(pl.col("kind") == "buy").row(0, named=True)
    assert buy["ack_ok"] is True and buy["ack_id"] == 29
    assert buy["trade_id"] is not None  # matched by the shared trace id
    assert buy["amount"] == 0.002


def test_conform_rejects_undeclared_columns():
    with pytest.raises(ValueError, match="does not declare"):
        conform(pl.DataFrame({"game_id": ["g"], "surprise": [1]}), "games")


def test_fairness_replay_detects_a_tampered_path(chains):
    from vectra_pipeline.silver.games import replay

    seeded = next(g for g in realdata.seeded_games() if g.get("prices"))
    recorded = dict(enumerate(float(p) for p in seeded["prices"]))
    path = price_path(seeded["serverSeed"], seeded["gameId"], "v3").prices
    ok, tick = replay(path, recorded, seeded["rug_tick"], None)
    assert ok is True and tick is None
    recorded[3] *= 1.0001
    assert replay(path, recorded, seeded["rug_tick"], None) == (False, 3)
    assert price_path(seeded["serverSeed"], seeded["gameId"]).rug_tick == seeded["rug_tick"]
