"""Browser source: real Debian Chromium (headless) on the simulator's play page.

The page's socket.io-client is made to start on HTTP long-polling (as socket.io-client does by default), so the
handshake travels in polling bodies and is upgraded to a WebSocket: the test checks both are landed. It clicks
BUY, SELL 25 % and SIDEBET and checks the landing zone against the simulator's wire log for the browser's sid.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from capture_kit import RunningCapture, capture_session, landed_rows, polling_first
from test_capture_direct import wire_records

from capture_agent.protocol.engineio import RECORD_SEPARATOR
from capture_agent.protocol.socketio import decode_frame
from capture_agent.redact import redact_frame
from capture_agent.sources.browser import BrowserOptions
from simulator.server import start_simulator

pytestmark = [pytest.mark.browser]

# Exchanged by engine.io outside its packet queue during the upgrade, so absent from the server's wire log.
UPGRADE_PROBES = {"2probe", "3probe", "5"}
CLICKS = (("#buy", "buyOrder"), ("#sell-25", "sellOrder"), ("#sidebet", "requestSidebet"))
IN_FLIGHT_NS = 1_000_000_000  # sent just before the stop, still on its way on loaded shared cores: not lost
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2ZWN0cmEtdGVzdCJ9.c2lnbmF0dXJlLW9mLXRoZS10ZXN0"
COOKIE = "privy-session-cookie-value-4242"


def packets(rows, sid, direction):
    """Engine.IO packets landed for one sid, polling bodies split, in landing order."""
    out = []
    for row in rows:
        if row["record_type"] == "frame" and row["socket_id"] == sid and row["direction"] == direction:
            text = row["payload_text"]
            parts = text.split(RECORD_SEPARATOR) if row["transport"] == "polling" else [text]
            out.extend((row["transport"], part) for part in parts)
    return out


def assert_same_packets(landed: list[tuple[str, str]], sent: list[tuple[int, str]], stop_ns: int) -> None:
    """Every packet the server sent is landed exactly once, in order; the only extras are the upgrade's
    probes and a polling ``6`` that ended a poll during the upgrade (engine.io answers both outside its
    logged queue); what is missing was sent after the capture stopped."""
    reachable = {0}  # how many sent packets the landed ones so far can account for
    for transport, text in landed:
        skippable = text in UPGRADE_PROBES or (transport == "polling" and text == "6")
        step = {j + 1 for j in reachable if j < len(sent) and sent[j][1] == text}
        step |= reachable if skippable else set()
        if not step:
            expected = [sent[j][1][:80] for j in sorted(reachable) if j < len(sent)]
            raise AssertionError(f"landed {text[:80]!r} ({transport}) where the server sent {expected}")
        reachable = step
    matched = max(reachable)
    early = [(round((stop_ns - t) / 1e6, 1), text[:60]) for t, text in sent[matched:] if t < stop_ns - IN_FLIGHT_NS]
    assert not early, f"frames sent before the stop are missing (ms before stop, frame): {early}"
    assert matched > 50


def test_browser_capture_of_clicks_orders_acks_trades_and_polling_handshake(tmp_path):
    simulator = start_simulator(speed=10, bots=4, wire_log=tmp_path / "wire.jsonl")
    try:
        stop_ns = asyncio.run(_play(tmp_path, simulator.url))
    finally:
        simulator.stop()
    rows = landed_rows(tmp_path / "data")
    wire = wire_records(tmp_path / "wire.jsonl")
    connected = [r for r in rows if r["record_type"] == "connection" and r["event"] == "connected"]
    assert len(connected) == 1
    sid = connected[0]["socket_id"]

    # 1. nothing missing, nothing twice, in order — both directions, polling and WebSocket alike
    landed_in = packets(rows, sid, "in")
    landed_out = packets(rows, sid, "out")
    sent = [(r["t_ns"], r["frame"]) for r in wire if r["sid"] == sid and r["direction"] == "out"]
    # what the page sent, as the landing zone must hold it: secrets redacted, everything else verbatim
    received = [redact_frame(r["frame"]) for r in wire if r["sid"] == sid and r["direction"] == "in"]
    assert_same_packets(landed_in, sent, stop_ns)
    assert [text for _, text in landed_out if text not in UPGRADE_PROBES] == received
    # the handshake came over polling, then the upgrade
    assert landed_in[0][0] == "polling" and landed_in[0][1].startswith('0{"sid":"' + sid)
    assert any(transport == "polling" and text.startswith("40") for transport, text in landed_out)  # the connect
    assert [text for transport, text in landed_out if transport == "websocket"][:2] == ["2probe", "5"]
    assert any(transport == "websocket" for transport, _ in landed_in)

    # 2. every click, then its order frame, then the order's ack, in landing order, on one clock
    clicks = [r for r in rows if r["record_type"] == "click"]
    paths = [c["detail"]["path"] for c in clicks]  # no --click-selectors: every button is recorded, by its CSS path
    assert len(paths) % 3 == 0 and paths[-3:] == [selector for selector, _ in CLICKS]
    assert all(c["detail"]["trusted"] and c["detail"]["amount"] == "0.01" for c in clicks)
    frames = [r for r in rows if r["record_type"] == "frame" and r["socket_id"] == sid]
    events = dict(CLICKS)
    orders = []
    for click in clicks:  # every click, failed rounds included, has its order and its ack
        order = next(r for r in frames if r["seq"] > click["seq"] and r["direction"] == "out" and r["event"] == events[click["detail"]["path"]])
        ack = next(r for r in frames if r["seq"] > order["seq"] and r["direction"] == "in" and r["ack_id"] == order["ack_id"] and r["payload_text"].startswith("43"))
        assert click["browser_ts"] <= order["browser_ts"] + 0.005 <= ack["browser_ts"] + 0.01
        assert 0 <= order["browser_ts"] - click["browser_ts"] < 2.0  # click → send latency is measurable
        orders.append((order, ack))
    assert all('"success":true' in ack["payload_text"] for _, ack in orders[-3:])  # the round that succeeded
    # 3. the trades that resulted: this player's buy, then sell, after their orders; the sidebet broadcast
    buy, sell, sidebet = (order for order, _ in orders[-3:])
    player_id = next(r["payload_text"] for r in frames if r["event"] == "playerUpdate").split('"id":"')[1].split('"')[0]
    mine = [t for t in frames if t["event"] == "standard/newTrade" and t["seq"] > buy["seq"] and player_id in t["payload_text"]]
    kinds = [t["payload_text"].split('"type":"')[1].split('"')[0] for t in mine]
    assert kinds[:2] == ["buy", "sell"], kinds
    assert mine[1]["seq"] > sell["seq"]
    (buy_packet,), (trade_packet,) = decode_frame(buy["payload_text"]), decode_frame(mine[0]["payload_text"])
    assert buy_packet.trace_id and trade_packet.trace_id == buy_packet.trace_id  # the order's trace links its trade
    assert any(r["event"] == "currentSidebet" and r["seq"] > sidebet["seq"] for r in frames)
    # 4. rows are gapless; the token the page sent and the cookie it holds are nowhere in the landing zone
    assert [r["seq"] for r in rows] == list(range(len(rows)))
    auth = [r for r in frames if r["direction"] == "out" and r["event"] == "authenticate"]
    assert any("[redacted]" in r["payload_text"] for r in auth)
    landed_text = repr(rows)
    assert JWT not in landed_text and COOKIE not in landed_text


async def _order(page, selector: str) -> bool:
    """Click a trade control once the game runs; True when its ack says success."""
    await page.wait_for_function("document.getElementById('phase').textContent === 'ACTIVE'", timeout=20000)
    # The page keeps its last 8 acks, so a count stops growing after 8 orders: wait for a new newest item instead.
    newest = await page.evaluate_handle("document.getElementById('acks').firstElementChild")
    await page.click(selector)
    await page.wait_for_function("previous => document.getElementById('acks').firstElementChild !== previous", arg=newest, timeout=10000)
    return await page.evaluate("document.getElementById('ack').classList.contains('ok')")


async def _play(tmp_path, url: str) -> int:
    options = BrowserOptions(url=url, headless=True, prepare_page=lambda page: page.route("**/static/play.js", polling_first))
    capture = RunningCapture(capture_session(tmp_path / "data", options))
    try:
        page = (await capture.started()).source.page
        await page.wait_for_function("document.getElementById('connection').textContent === 'connected'", timeout=15000)
        # orders need an open game; a round can end between the page's phase and the click, so, as a player
        # would, the sequence is played again (in a later round) until all three orders succeed
        for _attempt in range(8):
            if all([await _order(page, selector) for selector, _ in CLICKS]):
                break
        else:
            raise AssertionError("BUY, SELL 25 %, SIDEBET never all succeeded in one round")
        # a login as a wallet client does it: a token in an emit, a session cookie on every request
        await page.context.add_cookies([{"name": "privy-session", "value": COOKIE, "url": url}])
        await page.evaluate(f"window.vectraSocket.emit('authenticate', {{}}, {{token: '{JWT}', signature: 'x'}})")
        await asyncio.sleep(0.5)  # the trade broadcasts that follow the last ack
        stop_ns = time.time_ns()
    finally:
        await capture.stop()
    return stop_ns

