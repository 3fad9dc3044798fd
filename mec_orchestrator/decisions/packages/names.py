"""Package ids and the label that carries an appDId. Pure.

A package created through the REST API is named by a generated id, a random UUID (version 4): a
valid DNS label, so it is the AppPackage's name too, and unguessable, so ids never collide across
clients. Its appDId (known once the AppD is onboarded) is kept in the label `mec.dev/app-d-id` so
that GET /onboarded_app_packages/{appDId} finds the package with a label selector. An appDId is
an ETSI identifier (up to 128 characters, `:` allowed), a label value is at most 63 characters of
`[-A-Za-z0-9_.]`: an appDId that is a label value is used as it is, any other as `h-` and 60 hex
digits of its SHA-256 (which cannot be mistaken for an appDId kept as it is, since those that
start with `h-` and have 62 characters are hashed too). The label narrows the lookup; the
caller still compares spec.appDId, so a collision could never return the wrong package.
"""

from __future__ import annotations

import hashlib
import re
import uuid

from mec_common.patterns import DNS_LABEL

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_HASHED = re.compile(r"^h-[0-9a-f]{60}$")


def new_package_id() -> str:
    """A fresh package id: a random UUID, lower case (a DNS label)."""
    return str(uuid.uuid4())


def is_package_name(text: str) -> bool:
    """True when text could name an AppPackage (a DNS label; generated ids always are)."""
    return len(text) <= 63 and re.match(DNS_LABEL, text) is not None


def app_d_id_label(app_d_id: str) -> str:
    """The label value that stands for an appDId (itself if it is a valid, unambiguous one)."""
    if 0 < len(app_d_id) <= 63 and LABEL_VALUE.match(app_d_id) and not _HASHED.match(app_d_id):
        return app_d_id
    return "h-" + hashlib.sha256(app_d_id.encode()).hexdigest()[:60]
