"""The `vectra ui` guard as a proxy, against a small stand-in for dagster-webserver (no Dagster start-up): what
passes is forwarded faithfully (headers, cookies, compressed and streamed bodies, WebSocket subprotocol, text,
binary and close codes); what is refused never reaches the upstream; failures are one line."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import signal
import sys
from pathlib import Path

import pytest
from aiohttp import ClientSession, WSMsgType, WSServerHandshakeError, web
from ports import free_port

from capture_agent.errors import VectraError
from capture_agent.live.origin import parse_allowed_origins
from vectra_pipeline.commands import ui as ui_command
from vectra_pipeline.commands.ui import Guard

BIG = os.urandom(3 * 2**20)
PAGE = b"<html>" + b"dagster " * 5000 + b"</html>"


class Upstream:
    """Records what reached it; answers like a web app would."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_get("/echo", self.echo)
        app.router.add_get("/server_info", self.echo)  # what `vectra ui` polls before it says the UI is ready
        app.router.add_get("/page", self.page)
        app.router.add_get("/big", self.big)
        app.router.add_post("/graphql", self.graphql)
        app.router.add_get("/graphql", self.websocket)
        self.runner = web.AppRunner(app, access_log=None)

    async def start(self) -> int:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return self.runner.addresses[0][1]

    def _record(self, request) -> None:
        self.seen.append({"path": request.path, "headers": {k.lower(): v for k, v in request.headers.items()}})

    async def echo(self, request):
        self._record(request)
        response = web.json_response(self.seen[-1]["headers"])
        response.headers.add("Set-Cookie", "a=1; Path=/")
        response.headers.add("Set-Cookie", "b=2; Path=/")
        return response

    async def page(self, request):
        self._record(request)
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(body=gzip.compress(PAGE), headers={"Content-Encoding": "gzip", "Content-Type": "text/html"})
        return web.Response(body=PAGE, content_type="text/html")

    async def big(self, request):
        self._record(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(BIG), 65536):
            await response.write(BIG[start:start + 65536])
        await response.write_eof()
        return response

    async def graphql(self, request):
        self._record(request)
        body = await request.read()
        return web.json_response({"length": len(body), "same": body == BIG, "type": request.content_type})

    async def websocket(self, request):
        self._record(request)
        ws = web.WebSocketResponse(protocols=("graphql-ws",))
        await ws.prepare(request)
        async for message in ws:
            if message.type is WSMsgType.TEXT and message.data == "bye":
                await ws.close(code=4001, message=b"bye")
            elif message.type is WSMsgType.TEXT:
                await ws.send_str(message.data.upper())
            elif message.type is WSMsgType.BINARY:
                await ws.send_bytes(message.data[::-1])
        return ws


def scenario(test):
    """Run ``test(guard, upstream, client)`` with a guard in front of a fresh Upstream."""

    async def run():
        upstream = Upstream()
        upstream_port = await upstream.start()
        guard = await Guard.start("127.0.0.1", 0, parse_allowed_origins(["http://127.0.0.1:5173"]),
                                  f"http://127.0.0.1:{upstream_port}")
        try:
            async with ClientSession(auto_decompress=False) as client:
                await test(guard, upstream, client)
        finally:
            await guard.close()
            await upstream.runner.cleanup()

    asyncio.run(run())


def test_http_is_forwarded_faithfully():
    async def test(guard, upstream, client):
        base = f"http://127.0.0.1:{guard.port}"
        headers = {"Cookie": "session=x", "Proxy-Authorization": "Basic c2VjcmV0", "Keep-Alive": "timeout=5"}
        async with client.get(f"{base}/echo", headers=headers) as response:
            seen = await response.json()
            assert response.status == 200
            assert response.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
        assert seen["host"] == f"127.0.0.1:{guard.port}"  # dagster builds redirects from it
        assert seen["cookie"] == "session=x"
        assert "proxy-authorization" not in seen and "keep-alive" not in seen  # hop-by-hop stays here
        async with client.get(f"{base}/page", headers={"Accept-Encoding": "gzip"}) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(await response.read()) == PAGE  # passed through compressed, untouched
        async with client.get(f"{base}/page", skip_auto_headers=["Accept-Encoding"]) as response:
            assert "Content-Encoding" not in response.headers and await response.read() == PAGE
        assert "accept-encoding" not in upstream.seen[-1]["headers"]  # the proxy adds none of its own
        async with client.get(f"{base}/big") as response:
            assert await response.read() == BIG
        own = {"Origin": base, "Content-Type": "application/octet-stream"}
        async with client.post(f"{base}/graphql", data=BIG, headers=own) as response:
            assert await response.json() == {"length": len(BIG), "same": True, "type": "application/octet-stream"}

    scenario(test)


def test_websocket_is_relayed_with_its_subprotocol_and_close_code():
    async def test(guard, upstream, client):
        url = f"ws://127.0.0.1:{guard.port}/graphql"
        async with client.ws_connect(url, protocols=("graphql-ws",), origin=f"http://127.0.0.1:{guard.port}") as ws:
            assert ws.protocol == "graphql-ws"
            await ws.send_str("subscribe")
            assert (await ws.receive(timeout=10)).data == "SUBSCRIBE"
            await ws.send_bytes(b"\x00\x01\x02")
            assert (await ws.receive(timeout=10)).data == b"\x02\x01\x00"
            await ws.send_str("bye")
            closing = await ws.receive(timeout=10)
            assert closing.type is WSMsgType.CLOSE and ws.close_code == 4001

    scenario(test)


def test_refused_requests_never_reach_the_upstream():
    async def test(guard, upstream, client):
        base = f"http://127.0.0.1:{guard.port}"
        with pytest.raises(WSServerHandshakeError) as refused:
            await client.ws_connect(f"ws://127.0.0.1:{guard.port}/graphql", origin="https://evil.example")
        assert refused.value.status == 403
        async with client.get(f"{base}/echo", headers={"Host": "evil.example"}) as response:
            assert response.status == 403 and (await response.text()).count("\n") == 1
        mutation = json.dumps({"query": "mutation { wipeAssets { __typename } }"})
        async with client.post(f"{base}/graphql", data=mutation, headers={"Content-Type": "application/json"}) as response:
            assert response.status == 403 and "needs an Origin" in await response.text()
        async with client.post(f"{base}/graphql", data=mutation,
                               headers={"Content-Type": "application/json", "Origin": "http://127.0.0.1:5173"}) as response:
            assert response.status == 200  # an --allow-origin page may
        assert [seen["path"] for seen in upstream.seen] == ["/graphql"]

    scenario(test)


def test_an_oversized_body_is_refused_before_it_is_forwarded(monkeypatch):
    monkeypatch.setattr(ui_command, "MAX_BODY", 2**20)

    async def test(guard, upstream, client):
        base = f"http://127.0.0.1:{guard.port}"
        async with client.post(f"{base}/graphql", data=BIG, headers={"Origin": base}) as response:
            assert response.status == 413
        assert upstream.seen == []

    scenario(test)


def test_an_upstream_that_is_down_is_one_line_502():
    async def run():
        guard = await Guard.start("127.0.0.1", 0, frozenset(), f"http://127.0.0.1:{ui_command.private_port(exclude=0)}")
        try:
            async with ClientSession() as client, client.get(f"http://127.0.0.1:{guard.port}/") as response:
                text = await response.text()
            assert response.status == 502 and "Dagster is not answering" in text and text.count("\n") == 1
        finally:
            await guard.close()

    asyncio.run(run())


def test_proxy_errors_are_logged_as_one_line():
    try:
        raise ConnectionResetError("peer went away")
    except ConnectionResetError:
        record = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "Error handling request", None,
                                   sys.exc_info())
    line = ui_command._OneLine().format(record)
    assert line == "vectra ui: Error handling request (ConnectionResetError: peer went away)"


@pytest.mark.parametrize("given, base", [
    ("http://127.0.0.1:3001", "http://127.0.0.1:3001"),
    ("http://webserver:3000/", "http://webserver:3000"),
    ("http://[::1]:3001", "http://[::1]:3001"),
])
def test_an_upstream_is_a_plain_http_host_and_port(given, base):
    assert ui_command.upstream_url(given) == base


@pytest.mark.parametrize("given", [
    "https://127.0.0.1:3001", "http://127.0.0.1", "http://user:pw@127.0.0.1:3001", "http://127.0.0.1:3001/dagster",
    "http://127.0.0.1:3001/?x=1", "http://127.0.0.1:99999", "127.0.0.1:3001", "http://:3001", "http://[::1:3001",
])
def test_an_upstream_with_anything_else_is_refused_in_one_line(given):
    with pytest.raises(VectraError) as refused:
        ui_command.upstream_url(given)
    assert "http://HOST:PORT" in str(refused.value) and "pw" not in str(refused.value)


def test_vectra_ui_guards_a_running_webserver_without_starting_dagster(tmp_path):
    """`vectra ui --upstream`: the deployment's case (docs/DEPLOY.md) — the command, end to end, in front of a
    stand-in webserver: it says ready once the upstream answers, forwards what passes, refuses a foreign page's
    mutation before it reaches the upstream, starts no Dagster and writes no instance, and stops on Ctrl-C."""
    repo, port = Path(__file__).resolve().parents[2], free_port()

    async def run():
        upstream = Upstream()
        upstream_port = await upstream.start()
        env = {**os.environ, "VECTRA_DATA": str(tmp_path / "data")}
        env.pop("DAGSTER_HOME", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "capture_agent.cli", "ui", "--port", str(port), "--upstream",
            f"http://127.0.0.1:{upstream_port}", cwd=repo, env=env, start_new_session=True,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            lines = []
            while not lines or "ready — open" not in lines[-1]:
                line = await asyncio.wait_for(process.stdout.readline(), 120)
                assert line, "".join(lines)
                lines.append(line.decode())
            assert "guarding the dagster-webserver at http://127.0.0.1:" in lines[0]
            base = lines[-1].split("open ")[1].strip().rstrip("/")
            mutation = json.dumps({"query": "mutation { launchRun { __typename } }"})
            async with ClientSession() as client:
                async with client.get(f"{base}/echo") as response:
                    assert response.status == 200
                async with client.post(f"{base}/graphql", data=mutation,
                                       headers={"Content-Type": "application/json", "Origin": "https://evil.example"}) as response:
                    assert response.status == 403
            assert [seen["path"] for seen in upstream.seen] == ["/server_info", "/echo"]
            os.killpg(process.pid, signal.SIGINT)
            rest = (await asyncio.wait_for(process.stdout.read(), 60)).decode()
            assert await process.wait() == 0 and "vectra ui: stopping\n" in rest
        finally:
            if process.returncode is None:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
            await upstream.runner.cleanup()
        assert not (tmp_path / "data").exists()  # no instance, no data root: the deployment owns both

    asyncio.run(run())
