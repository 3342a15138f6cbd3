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
    assert mask_phone("+1234567") == "+1*****7"
    assert mask_phone(None) == ""


@pytest.mark.parametrize("digits", range(1, 16))
def test_mask_phone_hides_at_least_five_digits(digits):
    """A short number is masked at least as well as a long one: never fewer than 5 digits shown as *."""
    number = "+" + "123456789012345"[:digits]
    masked = mask_phone(number)
    assert len(masked) == len(number)
    assert masked.count("*") >= min(5, digits)
    assert sum(ch.isdigit() for ch in masked) <= max(0, digits - 5)


@pytest.mark.parametrize(
    "number",
    [
        "+1\u0668\u0661\u0663\u0665\u0665\u0665\u0660\u0661\u0660\u0660",  # Arabic-Indic digits
        "+\uff11\uff18\uff11\uff13\uff15\uff15\uff15\uff11\uff12\uff13\uff14",  # full-width digits
        "+18135551234\n5",
    ],
)
def test_e164_takes_ascii_digits_only(number):
    with pytest.raises(TelzinoValidationError, match=r"^to_number: not an E\.164 number"):
        require_e164("to_number", number)


def test_metadata_size_counts_utf8_bytes_as_sent():
    # 3 bytes per character in UTF-8, 6 as a JSON \u escape: about 9 KB, not 18 KB.
    japanese = {"note": "予約確認" * 750}
    assert optional_metadata("metadata", japanese) == japanese
    with pytest.raises(TelzinoValidationError, match=r"^metadata: 16511 bytes serialized"):
        optional_metadata("metadata", {"note": "予" * 5500})


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_metadata_refuses_numbers_json_cannot_carry(number):
    with pytest.raises(TelzinoValidationError, match=r"^metadata: .*NaN or Infinity"):
        optional_metadata("metadata", {"score": {"nested": [number]}})


@pytest.mark.parametrize(
    "url",
    [
        "https://100.64.0.1/hook",  # shared address space (carrier-grade NAT)
        "https://100.127.255.254/hook",
        "https://2130706433/hook",  # 127.0.0.1 as one integer
        "https://0x7f000001/hook",
        "https://127.1/hook",
        "https://017700000001/hook",
        "https://134744072/hook",  # 8.8.8.8, but not in dotted form
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest",
        "https://192.0.2.10/hook",  # documentation range
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00::1]/hook",
        "https://localhost./hook",
        "https://api.localhost/hook",
        "https://intranet/hook",
        "https://printer.local/hook",
        "https://example.com:99999/hook",
        "https://example.com:abc/hook",
        "https://example.com:0/hook",
        "https:///hook",
    ],
)
def test_callback_url_must_be_https_public_host_valid_port(url):
    with pytest.raises(TelzinoValidationError, match="^callback_url: "):
        optional_callback_url("callback_url", url)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/telzino",
        "https://hooks.example.com:8443/telzino?x=1",
        "https://8.8.8.8/hook",
        "https://[2001:4860:4860::8888]/hook",
    ],
)
def test_callback_url_accepted(url):
    assert optional_callback_url("callback_url", url) == url
