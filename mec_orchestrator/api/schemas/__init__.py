"""ETSI data types as pydantic models, one module per ETSI API, serialised with the ETSI names.

Bodies are served unwrapped (`{"appDId": ...}`, as the GS text and the ETSI test suites have
them, not the OpenAPI generator's `{"AppPkgInfo": {...}}`); requests are accepted either way.
"""
