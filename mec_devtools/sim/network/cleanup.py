"""Ownership of a run's leftovers, and their removal after a crash.

A run writes its owner (pid and process start time, so a reused pid is not mistaken for it) into
its state directory. `cleanup_leftovers` finds everything carrying a run tag that starts with the
given prefix — namespaces ``mecnet-<tag>-*``, root-namespace links whose alias is
``mecnet:<tag>``, state directories — and removes the runs whose owner is gone, killing whatever
still runs in their namespaces. Live runs are left alone unless asked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from mec_devtools.sim.network.addresses import (
    ALIAS_PREFIX,
    NAMESPACE_PREFIX,
    tag_of_namespace,
)
from mec_devtools.sim.network.netns import delete_namespace, ip, ip_json, list_namespaces

DEFAULT_STATE_DIR = Path("/run/mecnet")
OWNER_FILE = "owner.json"
SETUP_GRACE_S = 30.0  # a run directory without owner yet is being created


def process_start_time(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def write_owner(run_dir: Path) -> None:
    pid = os.getpid()
    (run_dir / OWNER_FILE).write_text(json.dumps({"pid": pid, "start": process_start_time(pid)}))


def owner_alive(run_dir: Path) -> bool:
    """Whether the process that owns a run still exists (a run still being set up counts)."""
    try:
        owner = json.loads((run_dir / OWNER_FILE).read_text())
        pid, start = int(owner["pid"]), owner["start"]
    except FileNotFoundError:
        try:
            return time.time() - run_dir.stat().st_mtime < SETUP_GRACE_S
        except OSError:
            return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(process_start_time(pid) == start)


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """Serialise address allocation between runs on this machine."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def root_links_of(tag: str) -> list[str]:
    alias = f"{ALIAS_PREFIX}{tag}"
    return [link["ifname"] for link in ip_json("link", "show") if link.get("ifalias") == alias]


def remove_run(tag: str, state_dir: Path = DEFAULT_STATE_DIR) -> list[str]:
    """Remove every namespace, root link and state file of one run; returns what was removed."""
    removed: list[str] = []
    for namespace in list_namespaces():
        if tag_of_namespace(namespace) == tag:
            delete_namespace(namespace)
            removed.append(f"namespace {namespace}")
    for link in root_links_of(tag):
        ip("link", "delete", link, check=False)
        removed.append(f"link {link}")
    run_dir = state_dir / tag
    if run_dir.exists():
        shutil.rmtree(run_dir, ignore_errors=True)
        removed.append(f"state {run_dir.name}")
    return removed


def _tags_on_machine(state_dir: Path) -> set[str]:
    tags = {t for n in list_namespaces() if (t := tag_of_namespace(n)) is not None}
    for link in ip_json("link", "show"):
        alias = link.get("ifalias") or ""
        if alias.startswith(ALIAS_PREFIX):
            tags.add(alias[len(ALIAS_PREFIX) :])
    if state_dir.is_dir():
        tags.update(entry.name for entry in state_dir.iterdir() if entry.is_dir())
    return tags


def cleanup_leftovers(
    prefix: str = "", *, include_live: bool = False, state_dir: Path = DEFAULT_STATE_DIR
) -> list[str]:
    """Remove runs whose tag starts with `prefix` and whose owner process has gone.

    With ``include_live`` the runs of living owners are removed as well (their owners will see
    their network vanish). Returns a line per removed item.
    """
    removed: list[str] = []
    for tag in sorted(_tags_on_machine(state_dir)):
        if not tag.startswith(prefix):
            continue
        if not include_live and owner_alive(state_dir / tag):
            continue
        removed.extend(remove_run(tag, state_dir))
    return removed


def leftover_names(prefix: str = "") -> list[str]:
    """Namespaces and root links of any run whose tag starts with `prefix` (for assertions)."""
    names = [
        n
        for n in list_namespaces()
        if n.startswith(NAMESPACE_PREFIX) and (tag_of_namespace(n) or "").startswith(prefix)
    ]
    for link in ip_json("link", "show"):
        alias = link.get("ifalias") or ""
        if alias.startswith(ALIAS_PREFIX + prefix):
            names.append(link["ifname"])
    return names
