"""The ETSI attribute filter and selectors: examples, and properties that hold for any object."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.packages.query import (
    NEGATIONS,
    Filter,
    Op,
    QueryError,
    Term,
    parse_filter,
    parse_selection,
    quote,
    values_at,
)

PACKAGE: dict[str, Any] = {
    "id": "p-1",
    "appName": "video, analytics (beta)",
    "appDVersion": "1.10",
    "mecInfo": ["3.1.1", "2.2.1"],
    "checksum": {"algorithm": "SHA-256", "hash": "ab" * 32},
    "softwareImages": [{"name": "detector", "size": 12}, {"name": "tracker", "size": 40}],
    "userDefinedData": {"team": "vision", "replicas": 3, "public": True},
    "onboardingState": "ONBOARDED",
}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("(eq,id,p-1)", True),
        ("(eq,appName,'video, analytics (beta)')", True),
        ("(cont,appName,'(beta)')", True),
        ("(ncont,appName,alpha)", True),
        ("(in,onboardingState,CREATED,ONBOARDED)", True),
        ("(nin,onboardingState,CREATED,ONBOARDED)", False),
        ("(eq,mecInfo,2.2.1)", True),
        ("(eq,checksum/algorithm,SHA-256)", True),
        ("(eq,softwareImages/name,tracker)", True),
        ("(gt,softwareImages/size,30)", True),
        ("(gte,softwareImages/size,41)", False),
        ("(lt,userDefinedData/replicas,3.5)", True),
        ("(eq,userDefinedData/replicas,3.0)", True),
        ("(eq,userDefinedData/public,true)", True),
        ("(gt,userDefinedData/public,false)", False),
        ("(gt,appDVersion,1.9)", False),  # strings compare as strings
        ("(neq,missing,x)", True),
        ("(eq,missing,x)", False),
        ("(eq,id,p-1);(eq,userDefinedData/team,vision)", True),
        ("(eq,id,p-1);(eq,userDefinedData/team,audio)", False),
        ("(eq,appName,'it''s')", False),
    ],
)
def test_examples(text: str, matches: bool) -> None:
    assert parse_filter(text).matches(PACKAGE) is matches


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "empty"),
        ("eq,id,x", "expected '('"),
        ("(eq,id,x", "expected ')'"),
        ("(eq,id,x);", "expected '('"),
        ("(eq,,x)", "not an attribute path"),
        ("(eq,a//b,x)", "not an attribute path"),
        ("(eq,id,it's)", "must be in single quotes"),
        ("(in,id)", "in needs a value"),
        ("(gt,id,1,2)", "gt takes one value"),
        ("(EQ,id,x)", "unknown operator 'EQ'"),
    ],
)
def test_malformed_filters_name_the_fault(text: str, named: str) -> None:
    with pytest.raises(QueryError, match=r"^filter: ") as refused:
        parse_filter(text)
    assert named in str(refused.value)


def test_known_attributes_are_checked() -> None:
    assert parse_filter("(eq,checksum/hash,x)", {"checksum"}).terms[0].path == ("checksum", "hash")
    with pytest.raises(QueryError, match="unknown attribute 'colour'"):
        parse_filter("(eq,colour,red)", {"checksum"})


# -- properties -----------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
simple = st.one_of(
    st.text(max_size=8),
    st.integers(-1000, 1000),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
documents = st.recursive(
    simple,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=4)),
    max_leaves=12,
).filter(lambda d: isinstance(d, dict))
operands = st.text(max_size=8)
ops = st.sampled_from(list(Op))


def _paths(obj: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, simple value) of every simple value reachable in obj."""
    found: list[tuple[tuple[str, ...], Any]] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for item in obj:
            found += _paths(item, prefix)
    elif prefix:
        found.append((prefix, obj))
    return found


def _operand(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


terms = st.builds(
    lambda op, path, values: Term(op, path, tuple(values[: None if op in (Op.IN, Op.NIN) else 1])),
    ops,
    st.lists(names, min_size=1, max_size=3).map(tuple),
    st.lists(operands, min_size=1, max_size=3),
)


@given(documents)
def test_a_filter_built_from_an_objects_own_values_matches_it(obj: dict[str, Any]) -> None:
    found = _paths(obj)
    for path, value in found:
        assert Term(Op.EQ, path, (_operand(value),)).matches(obj), (path, value)
        assert Term(Op.IN, path, ("\x00other", _operand(value))).matches(obj)
    conjunction = Filter(tuple(Term(Op.EQ, p, (_operand(v),)) for p, v in found))
    assert conjunction.matches(obj)
    if found:
        assert parse_filter(conjunction.render()).matches(obj)


@given(documents, terms)
def test_negations_are_complements(obj: dict[str, Any], term: Term) -> None:
    for negative, positive in NEGATIONS.items():
        yes = Term(positive, term.path, term.values).matches(obj)
        no = Term(negative, term.path, term.values).matches(obj)
        assert yes is not no


@given(
    documents,
    st.lists(names, min_size=1, max_size=3).map(tuple),
    st.lists(operands, min_size=1, max_size=4),
)
def test_in_is_eq_of_any_value(
    obj: dict[str, Any], path: tuple[str, ...], values: list[str]
) -> None:
    any_eq = any(Term(Op.EQ, path, (v,)).matches(obj) for v in values)
    assert Term(Op.IN, path, tuple(values)).matches(obj) is any_eq


@given(st.lists(terms, min_size=1, max_size=4))
def test_rendered_filters_parse_back(found: list[Term]) -> None:
    written = Filter(tuple(found))
    assert parse_filter(written.render()) == written


@given(st.text(max_size=40))
def test_quoting_round_trips(value: str) -> None:
    assert parse_filter(f"(eq,a,{quote(value)})").terms[0].values == (value,)


@given(st.text(alphabet="(),;'eqinaptx/ 1", max_size=30))
def test_any_text_parses_or_is_refused_with_a_query_error(text: str) -> None:
    refusal = ""
    try:
        parse_filter(text)
    except QueryError as error:
        refusal = str(error)
    assert refusal == "" or refusal.startswith("filter: ")


@given(documents, st.lists(names, min_size=1, max_size=3).map(tuple))
def test_values_at_never_returns_objects(obj: dict[str, Any], path: tuple[str, ...]) -> None:
    assert all(not isinstance(v, dict | list) and v is not None for v in values_at(obj, path))


# -- selectors ------------------------------------------------------------------------------------

OPTIONAL = {"userDefinedData", "additionalArtifacts"}
DEFAULT = {"checksum", "softwareImages", "additionalArtifacts"}


def _select(**given: str | None) -> dict[str, Any]:
    selection = parse_selection(
        all_fields=given.get("all_fields"),
        fields=given.get("fields"),
        exclude_fields=given.get("exclude_fields"),
        exclude_default=given.get("exclude_default"),
        optional=OPTIONAL,
        default_excluded=DEFAULT,
    )
    assert set(given) <= {"all_fields", "fields", "exclude_fields", "exclude_default"}
    return selection.apply(PACKAGE)


def test_selectors() -> None:
    assert _select() == PACKAGE  # no parameter: everything (docs/api.md says why)
    assert _select(all_fields="") == PACKAGE
    assert set(PACKAGE) - set(_select(exclude_default="")) == {"checksum", "softwareImages"}
    assert set(PACKAGE) - set(_select(fields="checksum")) == {"userDefinedData"}
    kept = _select(exclude_default="", fields="softwareImages")
    assert set(PACKAGE) - set(kept) == {"checksum", "userDefinedData"}
    nested = _select(exclude_fields="userDefinedData/team,softwareImages/size")
    assert nested["userDefinedData"] == {"replicas": 3, "public": True}
    assert nested["softwareImages"] == [{"name": "detector"}, {"name": "tracker"}]
    assert PACKAGE["userDefinedData"]["team"] == "vision"  # the input is not changed


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"all_fields": "", "exclude_default": ""}, "all_fields: cannot be combined"),
        ({"fields": "checksum", "exclude_fields": "checksum"}, "exclude_fields: cannot"),
        ({"exclude_default": "", "exclude_fields": "checksum"}, "exclude_fields: cannot"),
        ({"fields": ""}, "fields: an empty list"),
        ({"exclude_fields": "id"}, "exclude_fields: 'id' is not one of"),
        ({"fields": "checksum/"}, "not an attribute path"),
    ],
)
def test_refused_selectors(given: dict[str, str], named: str) -> None:
    with pytest.raises(QueryError) as refused:
        _select(**given)
    assert named in str(refused.value)


@given(st.sets(st.sampled_from(sorted(OPTIONAL | DEFAULT)), min_size=1))
def test_exclude_fields_takes_out_exactly_what_it_names(names_: set[str]) -> None:
    kept = _select(exclude_fields=",".join(sorted(names_)))
    assert set(kept) == set(PACKAGE) - names_
