"""The delay-line switch: a process in the middle namespace that forwards frames between veths.

    python -m mec_devtools.sim.network.switch --control ctl.sock [--spin-us 150]

The kernel here has no netem qdisc, so delay is made in userspace: each port is an AF_PACKET
socket on one veth end, every frame read is scheduled for the delay of its (ingress, egress)
pair, and a single loop sleeps in select() until shortly before the next frame is due, then
busy-waits the last `spin_us` microseconds so the frame leaves on time rather than when the
scheduler gets round to waking the process. Timer slack is set to 1 ns for the same reason, and
with --realtime-priority the process asks for SCHED_FIFO so that other work on a loaded machine
does not hold a release back (the kernel's RT throttling still leaves others 5 % of a core).
Ports and link parameters arrive at run time over a UNIX socket (see `control`); the ground
truth of every frame stays in memory until asked for.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import random
import select
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mec_devtools.sim.network import control
from mec_devtools.sim.network.control_server import ControlServer, Reply
from mec_devtools.sim.network.forwarding import DEFAULT_TRUTH_LIMIT, DelayLine
from mec_devtools.sim.network.ports import PacketPort

PR_SET_TIMERSLACK = 29
IDLE_WAIT_S = 0.5
PARENT_CHECK_NS = 500_000_000
LATE_NS = 200_000
LEAD_MAX_NS = 100_000
LEAD_SMOOTHING = 16
WORK_SLACK_S = 0.001
WORK_STARVATION_NS = 20_000_000
TRUTH_CHUNK = 32


@dataclass
class _Counters:
    kernel_timestamps: int = 0
    read_timestamps: int = 0
    partial_checksums: int = 0
    late_releases: int = 0


class Switch:
    """Owns the sockets and the loop; forwarding decisions are the DelayLine's."""

    def __init__(
        self,
        control_path: Path,
        delay_line: DelayLine,
        *,
        spin_ns: int,
        parent_pid: int | None,
        compensate: bool = True,
        realtime: bool = False,
    ) -> None:
        self._line = delay_line
        self._spin_ns = spin_ns
        self._parent_pid = parent_pid
        self._compensate = compensate
        self._realtime = realtime
        self._lead_ns = 0
        self._ports: dict[int, PacketPort] = {}
        self._port_names: dict[str, PacketPort] = {}
        self._counters = _Counters()
        self._stop = False
        self._started = time.monotonic()
        self._last_work_ns = 0
        self._control = ControlServer(control_path, self._execute)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    # -- main loop -----------------------------------------------------------------------
    def run(self) -> None:
        signal.set_wakeup_fd(self._wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        next_parent_check = time.monotonic_ns()
        try:
            while not self._stop:
                self._release_due()
                timeout = self._wait_time()
                if timeout is None:
                    continue
                if self._control.has_work() and self._may_work(timeout):
                    self._control.work()
                    self._last_work_ns = time.monotonic_ns()
                    timeout = 0.0
                readers = [*self._ports, self._wake_r, *self._control.readers()]
                readable, writable, _ = select.select(readers, self._control.writers(), [], timeout)
                for fd in readable:
                    self._on_readable(fd)
                for fd in writable:
                    self._control.on_writable(fd)
                if self._parent_pid is not None and time.monotonic_ns() >= next_parent_check:
                    next_parent_check = time.monotonic_ns() + PARENT_CHECK_NS
                    if os.getppid() != self._parent_pid:
                        print("switch: parent exited, stopping", file=sys.stderr)
                        self._stop = True
        finally:
            self.close()

    def _wait_time(self) -> float | None:
        """Seconds select() may sleep, or None after busy-waiting until the next release."""
        due = self._line.next_due()
        if due is None:
            return IDLE_WAIT_S
        start = due - self._lead_ns
        wait = start - time.time_ns()
        if wait > self._spin_ns:
            return min(IDLE_WAIT_S, (wait - self._spin_ns) / 1e9)
        while time.time_ns() < start:
            pass
        return None

    def _may_work(self, free_s: float) -> bool:
        """Serialise control output now? Only with time to spare, or if it waited too long."""
        starving = time.monotonic_ns() - self._last_work_ns > WORK_STARVATION_NS
        return free_s > WORK_SLACK_S or starving

    def _release_due(self) -> None:
        """Send every frame that is due, starting each send `lead` early.

        The send returns once the receiving namespace's stack has taken the frame, which costs
        a few tens of microseconds; the lead is a running average of that cost (capped), so the
        send completes at the due time on average instead of that much later.
        """
        while True:
            now = time.time_ns()
            item = self._line.pop_due(now + self._lead_ns)
            if item is None:
                return
            entry, frame = item
            if now + self._lead_ns - entry.due_ns > LATE_NS:
                self._counters.late_releases += 1
            try:
                self._port_names[entry.egress].send(frame)
            except OSError as error:
                self._line.failed(entry, now, error.strerror or str(error))
                continue
            leave = time.time_ns()
            self._line.sent(entry, now, leave)
            if self._compensate:
                cost = min(leave - now, LEAD_MAX_NS)
                self._lead_ns += (cost - self._lead_ns) // LEAD_SMOOTHING

    def _on_readable(self, fd: int) -> None:
        port = self._ports.get(fd)
        if port is not None:
            self._receive(port)
        elif fd == self._wake_r:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 512)
        else:
            self._control.on_readable(fd)

    def _receive(self, port: PacketPort) -> None:
        for received in port.receive_all():
            if received.kernel_timestamp:
                self._counters.kernel_timestamps += 1
            else:
                self._counters.read_timestamps += 1
            if received.partial_checksum:
                self._counters.partial_checksums += 1
            self._line.receive(port.name, received.frame, received.enter_ns)

    # -- commands ------------------------------------------------------------------------
    def _execute(self, command: control.Command) -> Reply:
        line = self._line
        result: Reply = {}
        match command:
            case control.Ping():
                result = {"pid": os.getpid(), "clock": "CLOCK_REALTIME", "now_ns": time.time_ns()}
            case control.AddPort(name=name, ifname=ifname, mac=mac):
                result = self._add_port(name, ifname, mac)
            case control.SetLink(ingress=a, egress=b, params=params, symmetric=symmetric):
                line.set_link(a, b, params)
                if symmetric:
                    line.set_link(b, a, params)
                result = {"link": params.as_ms()}
            case control.GetLink(ingress=a, egress=b):
                result = {"link": line.link(a, b).as_ms()}
            case control.Stats():
                result = {"stats": self._stats()}
            case control.Truth(since=since, limit=limit):
                result = self._truth_stream(since, limit)
            case control.ClearTruth():
                result = {"cleared": line.clear_truth()}
            case control.Shutdown():
                self._stop = True
        return result

    def _truth_stream(self, since: int, limit: int) -> Iterator[bytes]:
        records, next_seq = self._line.truth(since, limit)
        yield b'{"ok":true,"next":%d,"frames":[' % next_seq
        for start in range(0, len(records), TRUTH_CHUNK):
            chunk = records[start : start + TRUTH_CHUNK]
            encoded = b",".join(json.dumps(r.as_json()).encode() for r in chunk)
            yield (b"," if start else b"") + encoded
        yield b"]}\n"

    def _add_port(self, name: str, ifname: str, mac: bytes | None) -> dict[str, Any]:
        if name in self._port_names:
            raise control.ControlError(f"port {name!r} exists already")
        try:
            port = PacketPort(name, ifname)
        except OSError as error:
            raise control.ControlError(f"cannot open {ifname}: {error.strerror or error}") from None
        self._line.add_port(name, mac)
        self._port_names[name] = port
        self._ports[port.fileno()] = port
        return {"ports": list(self._port_names)}

    def _stats(self) -> dict[str, Any]:
        times = os.times()
        return {
            **self._line.stats(),
            **vars(self._counters),
            "control_requests": self._control.requests,
            "control_errors": self._control.errors,
            "clock": "CLOCK_REALTIME",
            "cpu_s": times.user + times.system,
            "uptime_s": time.monotonic() - self._started,
            "spin_us": self._spin_ns / 1000,
            "lead_us": self._lead_ns / 1000,
            "realtime": self._realtime,
        }

    # -- shutdown ------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: object) -> None:
        del signum, frame
        self._stop = True

    def close(self) -> None:
        self._control.close()
        for port in self._ports.values():
            port.close()


def _reduce_timer_slack() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)


def _try_realtime(priority: int) -> bool:
    """SCHED_FIFO, so other work on a loaded machine does not delay releases; False if denied."""
    if priority <= 0:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as error:
        print(
            f"switch: no real-time scheduling ({error}); running as a normal process",
            file=sys.stderr,
        )
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control", type=Path, required=True, help="UNIX socket to listen on")
    parser.add_argument("--spin-us", type=int, default=150, help="busy-wait before a release")
    parser.add_argument("--truth-limit", type=int, default=DEFAULT_TRUTH_LIMIT, help="records kept")
    parser.add_argument("--seed", type=int, default=None, help="seed for loss and jitter")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when it goes away")
    parser.add_argument(
        "--realtime-priority", type=int, default=0, help="SCHED_FIFO priority (0: normal)"
    )
    parser.add_argument(
        "--no-compensation", action="store_true", help="do not start sends early by their cost"
    )
    args = parser.parse_args(argv)
    _reduce_timer_slack()
    gc.disable()  # a full collection over a million records stalls releases for milliseconds
    gc.freeze()
    realtime = _try_realtime(args.realtime_priority)
    rng = random.Random(args.seed)  # noqa: S311 (loss and jitter draws, not a secret)
    line = DelayLine(rng=rng, truth_limit=args.truth_limit)
    switch = Switch(
        args.control,
        line,
        spin_ns=args.spin_us * 1000,
        parent_pid=args.parent_pid,
        compensate=not args.no_compensation,
        realtime=realtime,
    )
    switch.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
