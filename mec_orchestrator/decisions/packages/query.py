"""ETSI attribute filters and selectors (GS MEC 009 clauses 6.18-6.19, NFV-SOL 013 5.2-5.3).

Filter: `filter=(eq,appName,foo);(in,operationalState,ENABLED,DISABLED)` — simple expressions
joined by `;` (all must match). Each is `(op,attribute,value[,value]...)` with op one of eq, neq,
gt, lt, gte, lte, in, nin, cont, ncont; the attribute a path of names separated by `/`
(`checksum/algorithm`, `_links/self/href`); a value with `,`, `)`, `(`, `;` or `'` in it, or an
empty one, is written in single quotes with `'` doubled. All operators but in and nin take one
value; in and nin take one or more.

Matching, on the JSON representation of an object: the path is followed through objects and,
where it meets an array, through each element, so it leads to any number of simple values. eq,
in, gt, gte, lt, lte and cont match when at least one value does; neq, nin and ncont are exactly
their complements (so a missing attribute matches neq, and `neq` is never true together with
`eq`). A value equals the operand when its JSON text does (`true`, `12`, `12.0` for a number,
the string itself); gt/gte/lt/lte compare numbers as numbers and strings as strings (RFC 3339
times sort correctly), and nothing else; cont is substring containment in strings.

Selectors: `all_fields` (alone), `fields=<list>`, `exclude_fields=<list>`, `exclude_default`,
and `exclude_default` with `fields=<list>`; other combinations are refused. A list holds
attribute paths separated by `,`; only the complex attributes the resource names may appear.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

_NAME = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_.]*$")
_NEEDS_QUOTES = re.compile(r"[,()';]")


class QueryError(ValueError):
    """A filter or selector the API refuses (400); the text names the parameter and the fault."""


class Op(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    GT = "gt"
    LT = "lt"
    GTE = "gte"
    LTE = "lte"
    IN = "in"
    NIN = "nin"
    CONT = "cont"
    NCONT = "ncont"


NEGATIONS = {Op.NEQ: Op.EQ, Op.NIN: Op.IN, Op.NCONT: Op.CONT}
"""The negative operators and the positive ones they are the complement of."""
MULTI_VALUED = frozenset({Op.IN, Op.NIN})


@dataclass(frozen=True)
class Term:
    """One simple filter expression: (op, attribute path, values)."""

    op: Op
    path: tuple[str, ...]
    values: tuple[str, ...]

    def render(self) -> str:
        return f"({self.op.value},{'/'.join(self.path)},{','.join(map(quote, self.values))})"

    def matches(self, obj: Any) -> bool:
        positive = NEGATIONS.get(self.op)
        if positive is not None:
            return not Term(positive, self.path, self.values).matches(obj)
        found = values_at(obj, self.path)
        return any(_holds(self.op, value, operand) for value in found for operand in self.values)


@dataclass(frozen=True)
class Filter:
    """A conjunction of terms; the empty filter matches everything."""

    terms: tuple[Term, ...] = ()

    def matches(self, obj: Any) -> bool:
        return all(term.matches(obj) for term in self.terms)

    def render(self) -> str:
        return ";".join(term.render() for term in self.terms)


def quote(value: str) -> str:
    """Value as written in a filter: bare when it can be, else in single quotes."""
    if value and not _NEEDS_QUOTES.search(value):
        return value
    return "'" + value.replace("'", "''") + "'"


def values_at(obj: Any, path: Sequence[str]) -> list[Any]:
    """The simple values (not objects, not arrays, not null) the path leads to in obj."""
    current: list[Any] = [obj]
    for name in path:
        following: list[Any] = []
        for node in _flatten(current):
            if isinstance(node, Mapping) and name in node:
                following.append(node[name])
        current = following
    return [v for v in _flatten(current) if v is not None and not isinstance(v, Mapping)]


def _flatten(nodes: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for node in nodes:
        if isinstance(node, list):
            flat.extend(_flatten(node))
        else:
            flat.append(node)
    return flat


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _equal(value: Any, operand: str) -> bool:
    if isinstance(value, bool):
        return operand == ("true" if value else "false")
    if isinstance(value, int | float):
        number = _number(operand)
        return number is not None and number == value
    return isinstance(value, str) and value == operand


def _order(value: Any, operand: str) -> int | None:
    """-1, 0, 1 as value is below, equal to, above operand; None if they do not compare."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = _number(operand)
        if number is None:
            return None
        return (value > number) - (value < number)
    if isinstance(value, str):
        return (value > operand) - (value < operand)
    return None


def _holds(op: Op, value: Any, operand: str) -> bool:
    if op in (Op.EQ, Op.IN):
        return _equal(value, operand)
    if op is Op.CONT:
        return isinstance(value, str) and operand in value
    order = _order(value, operand)
    if order is None:
        return False
    return {Op.GT: order > 0, Op.GTE: order >= 0, Op.LT: order < 0, Op.LTE: order <= 0}[op]


class _Reader:
    """A cursor over the filter text, with errors that say where."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def fail(self, what: str) -> QueryError:
        return QueryError(f"filter: {what} at character {self.at + 1} of {self.text!r}")

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "the end"
            raise self.fail(f"expected {char!r}, found {found}")
        self.at += 1

    def until(self, stops: str) -> str:
        start = self.at
        while self.at < len(self.text) and self.text[self.at] not in stops:
            self.at += 1
        return self.text[start : self.at]

    def value(self) -> str:
        if self.peek() != "'":
            bare = self.until(",)")
            if "'" in bare or "(" in bare or ";" in bare:
                raise self.fail(f"value {bare!r} must be in single quotes")
            return bare
        self.at += 1
        chars: list[str] = []
        while True:
            if self.at >= len(self.text):
                raise self.fail("unterminated quoted value")
            char = self.text[self.at]
            self.at += 1
            if char != "'":
                chars.append(char)
            elif self.peek() == "'":
                chars.append("'")
                self.at += 1
            else:
                return "".join(chars)


def _term(reader: _Reader, known: Collection[str] | None) -> Term:
    reader.expect("(")
    name = reader.until(",)")
    try:
        op = Op(name)
    except ValueError:
        ops = ", ".join(o.value for o in Op)
        raise reader.fail(f"unknown operator {name!r} (one of {ops})") from None
    reader.expect(",")
    attribute = reader.until(",)")
    path = tuple(attribute.split("/"))
    if not all(_NAME.match(part) for part in path):
        raise reader.fail(f"{attribute!r} is not an attribute path (names separated by '/')")
    if known is not None and path[0] not in known:
        raise reader.fail(f"unknown attribute {path[0]!r} (one of {', '.join(sorted(known))})")
    values: list[str] = []
    while reader.peek() == ",":
        reader.at += 1
        values.append(reader.value())
    reader.expect(")")
    if not values:
        raise reader.fail(f"{op.value} needs a value")
    if op not in MULTI_VALUED and len(values) != 1:
        raise reader.fail(f"{op.value} takes one value, got {len(values)}")
    return Term(op, path, tuple(values))


def parse_filter(text: str, known: Collection[str] | None = None) -> Filter:
    """The filter written in text; QueryError naming the fault. known: valid first names."""
    if not text:
        raise QueryError("filter: empty (leave the parameter out to match everything)")
    reader = _Reader(text)
    terms = [_term(reader, known)]
    while reader.at < len(text):
        reader.expect(";")
        terms.append(_term(reader, known))
    return Filter(tuple(terms))


# -- attribute selectors ------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The attribute paths to take out of every object of an answer."""

    remove: frozenset[tuple[str, ...]] = frozenset()

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        result = copy.deepcopy(dict(obj))
        for path in sorted(self.remove, key=len, reverse=True):
            _remove(result, path)
        return result


def _remove(node: Any, path: tuple[str, ...]) -> None:
    if isinstance(node, list):
        for item in node:
            _remove(item, path)
        return
    if not isinstance(node, dict) or path[0] not in node:
        return
    if len(path) == 1:
        del node[path[0]]
    else:
        _remove(node[path[0]], path[1:])


def _paths(parameter: str, text: str, eligible: Collection[str]) -> frozenset[tuple[str, ...]]:
    if not text:
        raise QueryError(f"{parameter}: an empty list (name at least one attribute)")
    paths: set[tuple[str, ...]] = set()
    for item in text.split(","):
        path = tuple(item.split("/"))
        if not all(_NAME.match(part) for part in path):
            raise QueryError(f"{parameter}: {item!r} is not an attribute path")
        if path[0] not in eligible:
            raise QueryError(
                f"{parameter}: {path[0]!r} is not one of the complex attributes "
                f"{', '.join(sorted(eligible))}"
            )
        paths.add(path)
    return frozenset(paths)


def parse_selection(
    *,
    all_fields: str | None,
    fields: str | None,
    exclude_fields: str | None,
    exclude_default: str | None,
    optional: Collection[str],
    default_excluded: Collection[str],
    exclude_default_when_absent: bool = False,
) -> Selection:
    """What the four selector parameters (None: absent) take out; QueryError if refused.

    optional: the complex attributes with lower cardinality 0 (left out unless `fields` names
    them); default_excluded: the resource's default exclusion set. With no parameter at all,
    the default set is taken out only if exclude_default_when_absent.
    """
    given = {
        name
        for name, value in (
            ("all_fields", all_fields),
            ("fields", fields),
            ("exclude_fields", exclude_fields),
            ("exclude_default", exclude_default),
        )
        if value is not None
    }
    if "all_fields" in given and len(given) > 1:
        others = ", ".join(sorted(given - {"all_fields"}))
        raise QueryError(f"all_fields: cannot be combined with {others}")
    if {"fields", "exclude_fields"} <= given:
        raise QueryError("exclude_fields: cannot be combined with fields")
    if {"exclude_default", "exclude_fields"} <= given:
        raise QueryError("exclude_fields: cannot be combined with exclude_default")
    eligible = set(optional) | set(default_excluded)
    if not given:
        removed = set(default_excluded) if exclude_default_when_absent else set()
        return Selection(frozenset((name,) for name in removed))
    if "all_fields" in given:
        return Selection()
    if exclude_fields is not None:
        return Selection(_paths("exclude_fields", exclude_fields, eligible))
    kept: set[str] = set()
    if fields is not None:
        kept = {path[0] for path in _paths("fields", fields, eligible)}
    removed = set(optional) - kept if fields is not None else set()
    if exclude_default is not None:
        removed |= set(default_excluded) - kept
    return Selection(frozenset((name,) for name in removed))
