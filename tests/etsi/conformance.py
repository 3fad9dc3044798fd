"""Validate what the API serves against the ETSI OpenAPI files themselves (tests/etsi/specs).

`EtsiSpec("MEC01002_AppPkgMgmt.yaml").check(method, path, status, body)` finds the operation
whose path template matches (after the ETSI root and our optional /namespaces/{ns} root),
takes the response schema the file documents for that status (a status the file does not
document is a failure), resolves every $ref, unwraps the generator's `{"<Schema>": {...}}`
wrapper, reads `enum: [SEE_DESCRIPTION]` as a plain string, and validates the body with
JSON Schema 2020-12 (OpenAPI 3.1's dialect).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPECS = Path(__file__).parent / "specs"
NAMESPACED = re.compile(r"^/namespaces/[^/]+")
EMPTY_BODY = {"type": "object", "properties": {}}
"""How the generator wrote "the response message content shall be empty" (e.g. 202 Accepted)."""


# Where a file's type contradicts the GS it implements, the GS's type is checked instead, taken
# from the file that defines it (docs/api.md lists these file defects). MEC 021 v2.2.1 types
# AssociateId as a string; its GS (7.2.2, 7.3.2, 7.4.2) says it is GS MEC 012's AssociateId.
CORRECTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "MEC021_AppMobilityService.yaml": {"AssociateId": ("RniAPI.yaml", "AssociateId")},
}


@cache
def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SPECS / name).read_text())
    schemas = loaded.get("components", {}).get("schemas", {})
    for schema, (other, defined) in CORRECTIONS.get(name, {}).items():
        schemas[schema] = copy.deepcopy(_load(other)["components"]["schemas"][defined])
    return loaded


def _resolve(spec: dict[str, Any], node: Any, seen: tuple[str, ...] = ()) -> Any:
    """node with every local $ref inlined (a recursive reference becomes `{}`)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in seen:
                return {}
            target: Any = spec
            for part in ref[2:].split("/"):
                target = target[part]
            merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
            return _resolve(spec, merged, (*seen, ref))
        out = {k: _resolve(spec, v, seen) for k, v in node.items()}
        if out.get("enum") == ["SEE_DESCRIPTION"]:
            del out["enum"]
        return out
    if isinstance(node, list):
        return [_resolve(spec, v, seen) for v in node]
    return node


def unwrap(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema inside the generator's one-property wrapper object, or schema itself."""
    props = schema.get("properties")
    if (
        schema.get("type") == "object"
        and isinstance(props, dict)
        and len(props) == 1
        and not schema.get("required")
    ):
        ((name, inner),) = props.items()
        if name[:1].isupper() and isinstance(inner, dict):
            return inner
    return schema


@dataclass
class EtsiSpec:
    """One ETSI OpenAPI file, for checking answers against it."""

    name: str
    root: str = field(init=False)

    def __post_init__(self) -> None:
        servers = _load(self.name).get("servers") or [{"url": ""}]
        url = str(servers[0]["url"])
        self.root = "/" + url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url

    @property
    def spec(self) -> dict[str, Any]:
        return _load(self.name)

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        """(path template, operation) for a concrete request path (ours, with any root)."""
        local = NAMESPACED.sub("", path.split("?", 1)[0])
        if not local.startswith(self.root):
            raise AssertionError(f"{path} is not under {self.root}")
        local = local[len(self.root) :] or "/"
        for template, item in self.spec["paths"].items():
            pattern = "^" + re.sub(r"\{[^/}]+\}", "[^/]+", template) + "$"
            if re.match(pattern, local) and method.lower() in item:
                return template, item[method.lower()]
        raise AssertionError(f"the ETSI file has no {method.upper()} {local}")

    def response_schema(self, method: str, path: str, status: int) -> dict[str, Any] | None:
        """The documented schema (None: documented without a body); fails if undocumented."""
        template, operation = self.operation(method, path)
        responses = operation.get("responses", {})
        answer = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
        if answer is None:
            raise AssertionError(
                f"{method.upper()} {template} does not document status {status} "
                f"(documented: {sorted(responses)})"
            )
        answer = _resolve(self.spec, answer)
        content = answer.get("content") or {}
        for media in ("application/json", "application/problem+json"):
            if media in content:
                return unwrap(content[media].get("schema") or {})
        return None

    def check(self, method: str, path: str, status: int, body: Any) -> None:
        """Fail unless body is what the file documents for this status of this operation."""
        schema = self.response_schema(method, path, status)
        if schema is None:
            assert body in (None, b"", ""), f"{status} documents no body, got {body!r}"
            return
        if body in (None, b"", "") and schema == EMPTY_BODY:
            return  # "the response message content shall be empty", as the generator writes it
        jsonschema.Draft202012Validator(schema).validate(body)

    def request_schema(self, method: str, template_path: str) -> dict[str, Any]:
        """The (unwrapped) request body schema of an operation, by its path template."""
        operation = self.spec["paths"][template_path][method.lower()]
        body = _resolve(self.spec, operation["requestBody"])
        return unwrap(body["content"]["application/json"]["schema"])
