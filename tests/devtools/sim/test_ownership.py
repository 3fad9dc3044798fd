"""Who owns a run: the check that keeps leftover cleanup away from live runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mec_devtools.sim.network.cleanup import (
    OWNER_FILE,
    SETUP_GRACE_S,
    owner_alive,
    process_start_time,
    write_owner,
)


def test_this_process_owns_the_run_it_wrote(tmp_path: Path) -> None:
    write_owner(tmp_path)
    assert owner_alive(tmp_path)


def test_a_dead_owner_or_a_reused_pid_does_not_count(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(done.stdout)
    (tmp_path / OWNER_FILE).write_text(json.dumps({"pid": dead, "start": 1}))
    assert not owner_alive(tmp_path)
    me = os.getpid()
    start = process_start_time(me)
    assert start is not None
    (tmp_path / OWNER_FILE).write_text(json.dumps({"pid": me, "start": start + 1}))
    assert not owner_alive(tmp_path)  # same pid, another process start: a reused pid


def test_a_run_being_set_up_counts_as_alive_for_a_while(tmp_path: Path) -> None:
    run = tmp_path / "t1-abcdef"
    run.mkdir()
    assert owner_alive(run)
    old = run.stat().st_mtime - SETUP_GRACE_S - 1
    os.utime(run, (old, old))
    assert not owner_alive(run)
    (run / OWNER_FILE).write_text("not json")
    assert not owner_alive(run)
