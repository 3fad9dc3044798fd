"""The models refuse every object of the bad-object catalogue, naming the broken field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mec_orchestrator.model import UnknownKindError, parse_resource
from tests.model.catalogue import BAD_CASES, BadCase, describe


def test_the_catalogue_is_large_enough() -> None:
    assert len(BAD_CASES) >= 10
    assert len({c.id for c in BAD_CASES}) == len(BAD_CASES)
    assert sum(1 for c in BAD_CASES if c.status == 422) >= 10


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.id for c in BAD_CASES])
def test_model_refuses_bad_object_naming_the_field(case: BadCase) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_resource(case.object())
    assert case.field in describe(refused.value)


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "Pod"},
        {"apiVersion": "mec.dev/v1", "kind": "EdgeApp"},
        {"kind": "Zone"},
        {"apiVersion": "mec.dev/v1alpha1", "kind": ["EdgeApp"]},
    ],
)
def test_parse_resource_refuses_other_kinds(obj: dict[str, object]) -> None:
    with pytest.raises(UnknownKindError):
        parse_resource(obj)
