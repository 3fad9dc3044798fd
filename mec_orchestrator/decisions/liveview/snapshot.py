"""The whole picture at one moment, and the typed deltas from one picture to the next.

A `Snapshot` is six tables (sites, hosts, instances, devices, apps, handovers) of items by key,
numbered by `seq`. `diff(a, b)` is the shortest list of `Put` (new or changed item) and `Drop`
(gone) that turns a into b, and `apply(a, Batch(b.seq, diff(a, b))) == b`: the browser keeps a
snapshot and applies batches, the server sends the snapshot once and batches after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from mec_orchestrator.decisions.liveview.items import (
    App,
    Device,
    Handover,
    Host,
    Instance,
    Item,
    Site,
    item_json,
)


class Table(StrEnum):
    SITES = "sites"
    HOSTS = "hosts"
    INSTANCES = "instances"
    DEVICES = "devices"
    APPS = "apps"
    HANDOVERS = "handovers"


ITEM_OF: Mapping[Table, type[Item]] = MappingProxyType(
    {
        Table.SITES: Site,
        Table.HOSTS: Host,
        Table.INSTANCES: Instance,
        Table.DEVICES: Device,
        Table.APPS: App,
        Table.HANDOVERS: Handover,
    }
)


def _frozen(items: Iterable[Item]) -> Mapping[str, Item]:
    return MappingProxyType({item.key: item for item in items})


def _empty() -> Mapping[str, Item]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Snapshot:
    """Every table, by key; seq numbers the picture (0: nothing published yet)."""

    seq: int = 0
    sites: Mapping[str, Item] = field(default_factory=_empty)
    hosts: Mapping[str, Item] = field(default_factory=_empty)
    instances: Mapping[str, Item] = field(default_factory=_empty)
    devices: Mapping[str, Item] = field(default_factory=_empty)
    apps: Mapping[str, Item] = field(default_factory=_empty)
    handovers: Mapping[str, Item] = field(default_factory=_empty)

    @classmethod
    def of(cls, seq: int, tables: Mapping[Table, Iterable[Item]]) -> Snapshot:
        """A snapshot of these items (every item in the table of its type; keys unique)."""
        for table, items in tables.items():
            for item in items:
                if not isinstance(item, ITEM_OF[table]):
                    raise TypeError(f"{type(item).__name__} does not belong in table {table}")
        return cls(seq, **{t.value: _frozen(tables.get(t, ())) for t in Table})

    def table(self, table: Table) -> Mapping[str, Item]:
        found: Mapping[str, Item] = getattr(self, table.value)
        return found

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Snapshot):
            return NotImplemented
        return self.seq == other.seq and all(
            dict(self.table(t)) == dict(other.table(t)) for t in Table
        )

    __hash__ = None  # type: ignore[assignment]

    def json(self) -> dict[str, Any]:
        """The snapshot as the page reads it: seq and each table as a list, in key order."""
        body: dict[str, Any] = {"seq": self.seq}
        for table in Table:
            items = self.table(table)
            body[table.value] = [item_json(items[k]) for k in sorted(items)]
        return body


@dataclass(frozen=True, slots=True)
class Put:
    """An item that is new or changed."""

    table: Table
    item: Item

    def json(self) -> dict[str, Any]:
        return {"op": "put", "table": self.table.value, "key": self.item.key,
                "item": item_json(self.item)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Drop:
    """An item that is gone."""

    table: Table
    key: str

    def json(self) -> dict[str, Any]:
        return {"op": "drop", "table": self.table.value, "key": self.key}


Delta = Put | Drop


@dataclass(frozen=True, slots=True)
class Batch:
    """The deltas that lead to snapshot number seq (from the one before it)."""

    seq: int
    deltas: tuple[Delta, ...]

    def json(self) -> dict[str, Any]:
        return {"seq": self.seq, "deltas": [d.json() for d in self.deltas]}


def diff(before: Snapshot, after: Snapshot) -> tuple[Delta, ...]:
    """The deltas that turn before's tables into after's (drops first, then puts, by key)."""
    deltas: list[Delta] = []
    for table in Table:
        old, new = before.table(table), after.table(table)
        deltas += [Drop(table, key) for key in sorted(old.keys() - new.keys())]
        deltas += [Put(table, new[k]) for k in sorted(new) if old.get(k) != new[k]]
    return tuple(deltas)


def apply(snapshot: Snapshot, batch: Batch) -> Snapshot:
    """The snapshot with batch's deltas applied, numbered batch.seq."""
    tables: dict[Table, dict[str, Item]] = {t: dict(snapshot.table(t)) for t in Table}
    for delta in batch.deltas:
        if isinstance(delta, Put):
            if not isinstance(delta.item, ITEM_OF[delta.table]):
                raise TypeError(f"{type(delta.item).__name__} put in table {delta.table}")
            tables[delta.table][delta.item.key] = delta.item
        else:
            tables[delta.table].pop(delta.key, None)
    return Snapshot.of(batch.seq, {t: items.values() for t, items in tables.items()})
