"""The CRD files themselves, without a cluster: shape, documentation, and agreement with models.

The models and the CRDs are written separately (the CRDs for the API server and `kubectl
explain`, the models for Python code); these tests keep them saying the same thing: the same
fields, required the same way, with the same enums, defaults, patterns and bounds.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from mec_orchestrator.model import GROUP, KINDS, VERSION
from tests.model.catalogue import CRDS_DIR, crds

CRDS = crds()
Schema = dict[str, Any]


def schema_of(kind: str) -> Schema:
    versions = CRDS[kind]["spec"]["versions"]
    assert len(versions) == 1
    schema: Schema = versions[0]["schema"]["openAPIV3Schema"]
    return schema


def walk(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """(path, schema) of every field and list item under schema (map values excluded)."""
    for name, sub in schema.get("properties", {}).items():
        child = f"{path}.{name}" if path else name
        yield child, sub
        yield from walk(sub, child)
    if "items" in schema:
        yield f"{path}[]", schema["items"]
        yield from walk(schema["items"], f"{path}[]")


def test_one_file_per_crd() -> None:
    files = sorted(p.name for p in CRDS_DIR.glob("*.yaml"))
    assert files == sorted(f"{crd['metadata']['name']}.yaml" for crd in CRDS.values())
    assert set(CRDS) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_names_scope_and_version(kind: str) -> None:
    crd = CRDS[kind]
    model = KINDS[kind]
    spec = crd["spec"]
    assert spec["group"] == GROUP
    assert crd["metadata"]["name"] == f"{model.PLURAL}.{GROUP}"
    assert spec["names"]["plural"] == model.PLURAL
    assert spec["scope"] == ("Namespaced" if model.NAMESPACED else "Cluster")
    assert "mec" in spec["names"]["categories"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    assert version["subresources"] == {"status": {}}
    assert {c["name"] for c in version["additionalPrinterColumns"]} >= {"Age"}


def test_short_names() -> None:
    assert CRDS["EdgeApp"]["spec"]["names"]["shortNames"] == ["ea"]
    assert CRDS["EdgeHost"]["spec"]["names"]["shortNames"] == ["eh"]


def test_edgeapp_printer_columns() -> None:
    (version,) = CRDS["EdgeApp"]["spec"]["versions"]
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Hosts", "Users", "Ready", "SLO", "Age"]
    status = schema_of("EdgeApp")["properties"]["status"]["properties"]
    for column in version["additionalPrinterColumns"]:
        first = column["jsonPath"].split(".")[1:3]
        if first[0] == "status":
            assert first[1].split("[")[0] in status, column


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_field_is_described(kind: str) -> None:
    schema = schema_of(kind)
    assert schema.get("description")
    undocumented = [
        path for path, sub in walk(schema) if path != "metadata" and not sub.get("description")
    ]
    assert undocumented == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_default_is_told(kind: str) -> None:
    # kubectl explain does not print defaults: the descriptions say them.
    for path, sub in walk(schema_of(kind)):
        if "default" in sub and sub["default"] != {}:
            told = str(sub["default"]).lower()
            assert f"Default: {told}.".lower() in sub["description"].lower(), path


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_rule_has_a_message_naming_a_field(kind: str) -> None:
    rules = [
        (path, rule)
        for path, sub in [("", schema_of(kind)), *walk(schema_of(kind))]
        for rule in sub.get("x-kubernetes-validations", [])
    ]
    assert rules
    for path, rule in rules:
        field = (rule.get("fieldPath") or path).rsplit(".", 1)[-1].strip("[]") or "metadata.name"
        assert field in rule["message"], (path, rule)


def test_required_rules_exist() -> None:
    def rules(kind: str, path: str) -> str:
        node = dict([("", schema_of(kind)), *walk(schema_of(kind))])[path]
        return " ".join(r["rule"] for r in node.get("x-kubernetes-validations", []))

    assert "has(self.template) != has(self.appPackageRef)" in rules("EdgeApp", "spec")
    assert "self > 0.0" in rules("EdgeApp", "spec.latency.maxMs")
    assert "self >= 0.0" in rules("EdgeApp", "spec.mobility.hysteresisMs")
    assert "self >= 1" in rules("EdgeApp", "spec.placement.maxInstances")
    for kind, location in (("EdgeHost", "spec.location"), ("Zone", "spec.accessPoints[].location")):
        assert "-90.0" in rules(kind, f"{location}.latitude")
        assert "-180.0" in rules(kind, f"{location}.longitude")
    assert "exists_one" in rules("Zone", "spec.accessPoints")


# -- agreement with the models -----------------------------------------------------------------

CHECKED = ("enum", "default", "pattern", "minLength", "maxLength", "minItems", "maxItems")
BOUNDS = ("minimum", "maximum", "minProperties", "maxProperties")


class ModelSchema:
    """The pydantic JSON schema of a model, with $ref and Optional resolved."""

    def __init__(self, schema: Schema) -> None:
        self.defs: dict[str, Schema] = schema.get("$defs", {})
        self.root = schema

    def resolve(self, node: Schema) -> Schema:
        merged = dict(node)
        if "$ref" in merged:
            target = self.defs[merged.pop("$ref").rsplit("/", 1)[-1]]
            merged = {**target, **merged}
        branches = [b for b in merged.get("anyOf", []) if b.get("type") != "null"]
        if "anyOf" in merged and len(branches) == 1:
            del merged["anyOf"]
            merged = {**self.resolve(branches[0]), **merged}
        return merged


def compare_values(crd: Schema, model: Schema, path: str) -> list[str]:
    """Differences in type, format, enum, default, pattern, lengths and bounds of one field."""
    problems: list[str] = []
    crd_type, model_type = crd.get("type"), model.get("type")
    if model_type and crd_type != model_type:
        problems.append(f"{path}: type {crd_type} in the CRD, {model_type} in the model")
    if crd.get("format") == "date-time" and model.get("format") != "date-time":
        problems.append(f"{path}: date-time in the CRD, not in the model")
    for key in CHECKED:
        if crd.get(key) != model.get(key) and not (key == "default" and crd.get(key) == {}):
            problems.append(
                f"{path}: {key} {crd.get(key)!r} in the CRD, {model.get(key)!r} in model"
            )
    has_cel = bool(crd.get("x-kubernetes-validations"))
    for key in (*BOUNDS, "exclusiveMinimum", "exclusiveMaximum"):
        if key in crd and crd[key] != model.get(key):
            problems.append(f"{path}: {key} {crd[key]} in the CRD, {model.get(key)} in the model")
        if key in model and key not in crd and not has_cel:
            problems.append(f"{path}: {key} {model[key]} in the model, not checked by the CRD")
    return problems


def compare_fields(crd: Schema, model: Schema, path: str) -> list[str]:
    """Differences in the set of fields, required fields and unknown-field handling."""
    problems: list[str] = []
    crd_props: Schema = crd.get("properties", {})
    model_props: Schema = model.get("properties", {})
    preserve = crd.get("x-kubernetes-preserve-unknown-fields", False)
    if model.get("additionalProperties", False) is not preserve:
        problems.append(f"{path}: unknown fields kept in one, refused in the other")
    missing, extra = set(crd_props) - set(model_props), set(model_props) - set(crd_props)
    if missing or extra:
        problems.append(f"{path}: only in the CRD {missing}, only in the model {extra}")
    crd_required, model_required = set(crd.get("required", [])), set(model.get("required", []))
    if crd_required != model_required:
        problems.append(
            f"{path}: required {sorted(crd_required)} in the CRD, {sorted(model_required)} in model"
        )
    return problems


def compare(crd: Schema, model: Schema, ms: ModelSchema, path: str) -> list[str]:
    """Every difference between a CRD schema and a model schema, recursively."""
    model = ms.resolve(model)
    if crd.get("x-kubernetes-int-or-string"):
        types = sorted(b.get("type", "") for b in model.get("anyOf", []) if b.get("type") != "null")
        return [] if types == ["integer", "string"] else [f"{path}: model not int-or-string"]
    problems = compare_values(crd, model, path)
    if "items" in crd:
        problems += compare(crd["items"], model.get("items", {}), ms, f"{path}[]")
    crd_props: Schema = crd.get("properties", {})
    model_props: Schema = model.get("properties", {})
    if crd_props or model_props:
        problems += compare_fields(crd, model, path)
        for name in sorted(set(crd_props) & set(model_props)):
            child = f"{path}.{name}" if path else name
            problems += compare(crd_props[name], model_props[name], ms, child)
    return problems


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("part", ["spec", "status"])
def test_crd_and_model_agree(kind: str, part: str) -> None:
    ms = ModelSchema(KINDS[kind].model_json_schema(by_alias=True, mode="validation"))
    crd = schema_of(kind)["properties"][part]
    model = ms.root["properties"][part]
    assert compare(crd, model, ms, part) == []


def test_the_comparison_notices_differences() -> None:
    ms = ModelSchema(KINDS["EdgeApp"].model_json_schema(by_alias=True, mode="validation"))
    crd = copy.deepcopy(schema_of("EdgeApp")["properties"]["spec"])
    crd["properties"]["mobility"]["properties"]["level"]["enum"].append("Teleport")
    crd["properties"]["placement"]["properties"]["idleSeconds"]["default"] = 60
    crd["properties"]["latency"]["properties"]["extra"] = {"type": "string"}
    crd["required"].remove("appName")
    problems = compare(crd, ms.root["properties"]["spec"], ms, "spec")
    assert len(problems) == 4, problems
