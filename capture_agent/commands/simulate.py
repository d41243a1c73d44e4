"""``vectra simulate``: serve the protocol-faithful rugs.fun simulator and its play page until Ctrl-C."""

from __future__ import annotations

import argparse
from pathlib import Path

from capture_agent.errors import VectraError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need --public)")
    parser.add_argument("--public", action="store_true", help="allow a non-loopback --host (anyone reaching it can play)")
    parser.add_argument(
        "--allow-origin",
        action="append",
        metavar="ORIGIN",
        help="also accept Socket.IO clients from pages of this origin, e.g. http://127.0.0.1:5173 (repeatable)",
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--speed", type=float, default=1.0, help="game speed: 20 runs a 200-tick game in ~2.5 s")
    parser.add_argument("--seed", default="vectra", help="seed of the server-seed chain and the bots (default vectra)")
    parser.add_argument("--bots", type=int, default=8, help="background bots trading (default 8)")
    parser.add_argument("--wire-log", type=Path, help="append every frame sent and received to this JSONL file")
    parser.add_argument("--admin", action="store_true", help="enable POST /admin/drop (loopback only)")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from capture_agent.extras import load_simulator
    from capture_agent.live.origin import parse_allowed_origins

    server = load_simulator("server")

    if args.speed <= 0:
        raise VectraError("--speed must be positive")
    if args.bots < 0:
        raise VectraError("--bots must be 0 or more")
    if not 0 <= args.port <= 65535:
        raise VectraError("--port must be between 0 and 65535")
    allowed = parse_allowed_origins(args.allow_origin)
    server.bundle_path()  # the play page needs it: fail before listening if the set-up was skipped
    sock = server.bind(args.host, args.port, public=args.public)
    policy = server.listener_policy(args.host, sock, allowed)
    port = sock.getsockname()[1]
    links = server.urls(args.host, port)
    print(f"vectra simulator (seed {args.seed!r}, speed {args.speed:g}, {args.bots} bots)")
    print(f"  play page  {links['page']}")
    print(f"  socket     {links['socket']}")
    if args.admin:
        print(f"  admin      POST {links['admin']}  (drops every connection; loopback only)")
    else:
        print("  admin      off (start with --admin to enable POST /admin/drop)")
    if args.wire_log:
        print(f"  wire log   {args.wire_log}")
    print("Ctrl-C to stop", flush=True)

    async def main() -> None:
        app = server.SimulatorApp(
            speed=args.speed, seed=args.seed, bots=args.bots, wire_log=args.wire_log, admin=args.admin, policy=policy
        )
        await server.serve(app, sock)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled; stopping is the normal way out
    print("simulator stopped")
    return 0
