"""Command line of the emulated RNIS: where to listen and which PLMN the cells belong to.

Once it listens it writes one JSON line on stdout, `{"listening": "host:port"}` (the port it
really bound when asked for port 0), so a parent process knows when and where to reach it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys

from aiohttp import web

from mec_devtools.rnis.models import Plmn
from mec_devtools.rnis.server import RnisEmulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mec_devtools.rnis", description="An emulated MEC 012 RNIS."
    )
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port (port 0: any free)")
    parser.add_argument("--mcc", default="505", help="mobile country code of every cell")
    parser.add_argument("--mnc", default="01", help="mobile network code of every cell")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"--listen is host:port, not {listen!r}")
    return host.strip("[]"), int(port)


async def serve(host: str, port: int, plmn: Plmn) -> None:
    emulator = RnisEmulator(plmn)
    runner = web.AppRunner(emulator.web_app(), access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, host, port).start()
        bound = int(runner.addresses[0][1])
        shown = f"[{host}]" if ":" in host else host
        sys.stdout.write(json.dumps({"listening": f"{shown}:{bound}"}) + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    host, port = split_listen(args.listen)
    plmn = Plmn(mcc=args.mcc, mnc=args.mnc)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host, port, plmn))
