"""`mec-reference-app`: run the reference app until SIGINT or SIGTERM.

Flags override `MEC_APP_*` environment variables. Once both servers listen, one JSON line on
stdout says where: `{"event": "listening", "http": "host:port", "context": "host:port"}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from mec_app_sdk.reference.app import ReferenceApp
from mec_app_sdk.reference.settings import ReferenceSettings, split_listen


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mec-reference-app", description="An AR-anchor-like stateful edge app."
    )
    parser.add_argument("--listen", help="devices' HTTP host:port (MEC_APP_LISTEN)")
    parser.add_argument(
        "--context-listen", help="UserContextService host:port (MEC_APP_CONTEXT_LISTEN)"
    )
    parser.add_argument("--state-bytes", type=int, help="per-user context size (padding)")
    parser.add_argument("--chunk-bytes", type=int, help="export chunk size (at most 262144)")
    parser.add_argument("--tls-ca", type=Path)
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    parser.add_argument("--log-level")
    parser.add_argument(
        "--mp1-url", help="the local agent's Mp1, to register with (MEC_APP_MP1_URL)"
    )
    parser.add_argument("--instance-id", help="id at the agent (MEC_APP_INSTANCE_ID)")
    parser.add_argument("--advertise-host", help="address to register (MEC_APP_ADVERTISE_HOST)")
    return parser


def settings_from(argv: list[str] | None) -> ReferenceSettings:
    flags = vars(_parser().parse_args(argv))
    overrides: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    return ReferenceSettings(**overrides)


async def run(settings: ReferenceSettings) -> None:
    app = ReferenceApp(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await app.start()
    try:
        http_host = split_listen(settings.listen)[0]
        context_host = split_listen(settings.context_listen)[0]
        line = {
            "event": "listening",
            "http": f"{http_host}:{app.http_port}",
            "context": f"{context_host}:{app.context_port}",
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await app.stop()


def main(argv: list[str] | None = None) -> None:
    settings = settings_from(argv)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings))


if __name__ == "__main__":
    main()
