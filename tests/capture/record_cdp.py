"""Record what a real Chromium says over CDP while the simulator's play page connects, for the translator's tests.

    .venv/bin/python tests/capture/record_cdp.py      # rewrites tests/fixtures/cdp/simulator_session.jsonl.gz

The page starts on long-polling (socket.io-client's default) and upgrades to a WebSocket, so the recording holds
both transports. One JSON object per line, in the order things happened:

* ``{"event": METHOD, "params": {…}}`` — every CDP event the browser source subscribes to, as Chromium sent it;
* ``{"answer": METHOD, "requestId": ID, "result": {…}}`` — CDP's answer when asked for a polling body;
* ``{"wire": {…}}`` — the simulator's wire log of that page's socket (what the server sent and received).

Recorded against a loopback simulator without bots: no secrets, no other traffic.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "cdp" / "simulator_session.jsonl.gz"
SECONDS = 3.0


async def _record(url: str) -> list[dict]:
    from capture_kit import polling_first
    from playwright.async_api import async_playwright

    from capture_agent.sources.browser import CHROMIUM, CHROMIUM_FLAGS, HEADLESS_FLAGS
    from capture_agent.sources.cdp import CdpTranslator

    lines: list[dict] = []
    fetches: list[asyncio.Task] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_FLAGS, *HEADLESS_FLAGS])
        page = await (await browser.new_context()).new_page()
        await page.route("**/static/play.js", polling_first)
        cdp = await page.context.new_cdp_session(page)
        polls: set[str] = set()

        async def fetch(method: str, request_id: str) -> None:
            try:
                result = await cdp.send(method, {"requestId": request_id})
            except Exception as error:  # noqa: BLE001 - a body Chromium no longer has is recorded as such
                result = {"error": str(error)}
            lines.append({"answer": method, "requestId": request_id, "result": result})

        def on_event(method: str, params: dict) -> None:
            lines.append({"event": method, "params": params})
            request = params.get("request", {})
            if method == "Network.requestWillBeSent" and "transport=polling" in request.get("url", ""):
                if request.get("method") == "GET":
                    polls.add(params["requestId"])
                elif "postData" not in request:
                    fetches.append(asyncio.ensure_future(fetch("Network.getRequestPostData", params["requestId"])))
            elif method == "Network.loadingFinished" and params.get("requestId") in polls:
                fetches.append(asyncio.ensure_future(fetch("Network.getResponseBody", params["requestId"])))

        for method in CdpTranslator("socket.io").methods:
            cdp.on(method, lambda params, method=method: on_event(method, params))
        await cdp.send("Network.enable")
        await page.goto(url, wait_until="domcontentloaded")
        await page.wait_for_function("document.getElementById('connection').textContent === 'connected'", timeout=15000)
        await asyncio.sleep(SECONDS)  # not a wait: records a few seconds of ticks over the upgraded WebSocket
        await browser.close()
        await asyncio.gather(*fetches, return_exceptions=True)
    return lines


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from simulator.server import start_simulator

    with tempfile.TemporaryDirectory() as scratch:
        wire_log = Path(scratch) / "wire.jsonl"
        simulator = start_simulator(speed=1, bots=0, wire_log=wire_log)
        try:
            lines = asyncio.run(_record(simulator.url))
        finally:
            simulator.stop()
        wire = [json.loads(line) for line in wire_log.read_text(encoding="utf-8").splitlines() if line.strip()]
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(FIXTURE, "wt", encoding="utf-8") as out:
        for line in [*lines, *({"wire": record} for record in wire)]:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{FIXTURE.relative_to(REPO)}: {len(lines)} CDP events and answers, {len(wire)} wire records, {FIXTURE.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
