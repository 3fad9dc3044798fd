"""Usage state follows the EdgeApps that reference a package (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.packages.usage import usage_changes, users_of
from mec_orchestrator.model import UsageState

IN, OUT = UsageState.IN_USE, UsageState.NOT_IN_USE


def test_a_package_is_in_use_exactly_while_an_app_references_it() -> None:
    recorded = {("ns", "video"): OUT, ("ns", "ar"): IN, ("other", "video"): None}
    references = {("ns", "cams"): "video", ("ns", "cams-2"): "video"}
    assert usage_changes(recorded, references) == {
        ("ns", "ar"): OUT,  # nobody uses it any more
        ("ns", "video"): IN,
        ("other", "video"): OUT,  # never recorded: written once
    }
    assert users_of(references) == {("ns", "video"): ["cams", "cams-2"]}
    # A reference in another namespace does not use the package.
    assert usage_changes({("other", "video"): OUT}, references) == {}


packages = st.sampled_from(["p1", "p2", "p3"])
namespaces = st.sampled_from(["a", "b"])


@given(
    st.dictionaries(st.tuples(namespaces, packages), st.sampled_from([IN, OUT, None])),
    st.dictionaries(st.tuples(namespaces, st.sampled_from(["x", "y", "z"])), packages),
)
def test_after_applying_the_changes_none_remain(
    recorded: dict[tuple[str, str], UsageState | None], references: dict[tuple[str, str], str]
) -> None:
    changes = usage_changes(recorded, references)
    assert set(changes) <= set(recorded)  # only packages that exist are written
    applied = {**recorded, **changes}
    assert usage_changes(applied, references) == {}
    for (namespace, package), state in applied.items():
        used = any(ns == namespace and p == package for (ns, _), p in references.items())
        assert state is (IN if used else OUT)
