from __future__ import annotations

import pytest

from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.redaction import mask_phone
from telzino_provider.statuses import TERMINAL_STATUSES, CallStatus
from telzino_provider.validation import (
    optional_call_context,
    optional_callback_url,
    optional_metadata,
    require_e164,
    require_int_range,
    require_statuses,
    require_uuid,
)

UUID = "0fc6daf8-7251-4553-9488-867ba0b82d8e"


def test_status_enum_terminal_set():
    assert {s.value for s in CallStatus if s.is_terminal} == {"completed", "no_answer", "busy", "failed"}
    assert {s for s in CallStatus if s.is_terminal} == TERMINAL_STATUSES
    assert CallStatus.parse("voicemail") is None  # unknown statuses never count as terminal


def test_require_uuid_normalises_and_rejects_paths():
    assert require_uuid("agent_id", UUID.upper()) == UUID
    for bad in ("../admin", "", None, "123", f"{UUID}/x"):
        with pytest.raises(TelzinoValidationError, match="^agent_id: .* is not a UUID"):
            require_uuid("agent_id", bad)


def test_require_statuses():
    assert require_statuses("status", None) == ()
    assert require_statuses("status", "completed") == (CallStatus.COMPLETED,)
    assert require_statuses("status", ["busy", "busy", "failed"]) == (CallStatus.BUSY, CallStatus.FAILED)
    with pytest.raises(TelzinoValidationError, match="unknown status 'done'; use one of: queued"):
        require_statuses("status", ["completed", "done"])
    with pytest.raises(TelzinoValidationError, match="empty list"):
        require_statuses("status", [])


@pytest.mark.parametrize("value", [0, 101, True, "10", 2.5])
def test_page_size_range(value):
    with pytest.raises(TelzinoValidationError, match="^page_size: "):
        require_int_range("page_size", value, 1, 100)


@pytest.mark.parametrize(
    "number", ["8135551234", "+0123", "+1 813 555 1234", "+1813555123456789", 18135551234]
)
def test_e164_rejected(number):
    with pytest.raises(TelzinoValidationError, match=r"^to_number: not an E\.164 number"):
        require_e164("to_number", number)


def test_e164_accepted():
    assert require_e164("to_number", " +18135551234 ") == "+18135551234"


def test_call_context_limit():
    assert optional_call_context("call_context", "x" * 4000) == "x" * 4000
    with pytest.raises(TelzinoValidationError, match="4001 characters; the API takes at most 4000"):
        optional_call_context("call_context", "x" * 4001)


def test_metadata_checks():
    assert optional_metadata("metadata", {"crm_id": "1"}) == {"crm_id": "1"}
    with pytest.raises(TelzinoValidationError, match="expected a JSON object"):
        optional_metadata("metadata", ["a"])
    with pytest.raises(TelzinoValidationError, match="not JSON-serializable"):
        optional_metadata("metadata", {"when": object()})
    with pytest.raises(TelzinoValidationError, match="bytes serialized; the API takes at most 16384"):
        optional_metadata("metadata", {"blob": "x" * 16_400})


@pytest.mark.parametrize(
    "url", ["http://example.com/hook", "ftp://example.com", "https://127.0.0.1/x", "https://localhost/x"]
)
def test_callback_url_rejected(url):
    with pytest.raises(TelzinoValidationError, match="^callback_url: "):
        optional_callback_url("callback_url", url)


def test_mask_phone():
    assert mask_phone("+18135551234") == "+1813*****34"
    assert "5551" not in mask_phone("+18135551234")
    assert mask_phone(None) == ""
