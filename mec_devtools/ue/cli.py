"""Command line of the emulated device: which app it asks for, how fast it sends, where it records.

Exit codes: 0 after SIGINT/SIGTERM (the app context deleted), 2 when the orchestrator refused
the app context (a 4xx) or never answered within `--create-timeout`. Once the context exists,
one JSON line on stdout says so: `{"event": "started", "contextId", "referenceURI",
"callback"}`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from mec_devtools.ue.device import Device, DeviceSettings

TOKEN_ENV = "MEC_DEVICE_TOKEN"  # noqa: S105 - the name of a variable, not a secret


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mec_devtools.ue", description="An emulated MEC 016 device application."
    )
    p.add_argument("--orchestrator", required=True, help="base URL of the MEC 016 API's host")
    p.add_argument("--app-name", required=True)
    p.add_argument("--app-provider", required=True)
    p.add_argument("--app-d-id", required=True)
    p.add_argument("--app-soft-version", required=True)
    p.add_argument("--app-d-version", help="appDVersion (default: the soft version)")
    p.add_argument("--device-id", required=True, help="associateDevAppId (at most 32 characters)")
    p.add_argument("--rate", type=float, default=50.0, help="updates per second")
    p.add_argument("--records", type=Path, required=True, help="JSON-lines record file")
    p.add_argument("--callback-listen", default="127.0.0.1:0", help="host:port for notifications")
    p.add_argument("--callback-host", help="address in callbackReference (default: listen host)")
    p.add_argument("--state-bytes", type=int, default=0, help="padding bytes in each update")
    p.add_argument("--request-timeout", type=float, default=2.0, help="seconds per request")
    p.add_argument("--create-timeout", type=float, default=60.0, help="seconds to get a context")
    p.add_argument("--log-level", default="WARNING")
    return p


def settings_from(argv: list[str] | None) -> DeviceSettings:
    parser = _parser()
    args = parser.parse_args(argv)
    if len(args.device_id) > 32:
        parser.error("--device-id: at most 32 characters (associateDevAppId)")
    if args.rate <= 0:
        parser.error("--rate: more than 0")
    if args.state_bytes < 0:
        parser.error("--state-bytes: 0 or more")
    listen_host = args.callback_listen.rpartition(":")[0].strip("[]")
    if listen_host in {"0.0.0.0", "::", ""} and not args.callback_host:  # noqa: S104
        parser.error("--callback-host: needed when --callback-listen is every address")
    return DeviceSettings(
        orchestrator=args.orchestrator,
        app_name=args.app_name,
        app_provider=args.app_provider,
        app_d_id=args.app_d_id,
        app_soft_version=args.app_soft_version,
        app_d_version=args.app_d_version,
        device_id=args.device_id,
        records=args.records,
        rate=args.rate,
        callback_listen=args.callback_listen,
        callback_host=args.callback_host,
        state_bytes=args.state_bytes,
        token=os.environ.get(TOKEN_ENV) or None,
        request_timeout_s=args.request_timeout,
        create_timeout_s=args.create_timeout,
        log_level=args.log_level,
    )


async def run(settings: DeviceSettings) -> int:
    device = Device(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, device.stopping.set)
    return await device.run()


def main(argv: list[str] | None = None) -> None:
    settings = settings_from(argv)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    sys.exit(asyncio.run(run(settings)))
