"""The reference app's pure parts: its record, its settings (flags over MEC_APP_*)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mec_app_sdk.reference.anchors import AnchorRecord, apply_update
from mec_app_sdk.reference.cli import settings_from


def test_an_update_is_applied_once_and_the_record_is_padded() -> None:
    first = apply_update(None, 1, {"anchor": "a", "pose": [1, 2, 3]}, 512)
    assert first is not None
    assert len(first) == 512
    assert apply_update(first, 1, {"anchor": "a"}, 512) is None  # a duplicate
    second = apply_update(first, 5, "free-form", 512)
    assert second is not None
    record = AnchorRecord.decode(second)
    assert (record.last_seq, record.applied, record.last) == (5, 2, "free-form")
    assert record.anchors == {"a": {"anchor": "a", "pose": [1, 2, 3]}}


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEC_APP_STATE_BYTES", "1024")
    monkeypatch.setenv("MEC_APP_CONTEXT_LISTEN", "127.0.0.1:7000")
    settings = settings_from(["--state-bytes", "2048"])
    assert (settings.state_bytes, settings.context_listen) == (2048, "127.0.0.1:7000")
    with pytest.raises(ValidationError):
        settings_from(["--chunk-bytes", "300000"])  # over context.proto's 256 KiB
    with pytest.raises(ValidationError):
        settings_from(["--tls-ca", "/ca.pem"])  # all three TLS files or none
