"""The landed line: transcript shape and what redact masks."""

from __future__ import annotations

from telzino_provider.call_lines import redact_line, transcript_of
from telzino_provider.redaction import mask_phones_in_text


def test_transcript_keeps_the_conversation_and_drops_the_recording_link() -> None:
    log = {
        "id": "log-1",
        "transcript_text": "[0.50s] agent: Hello!",
        "transcript_json": [{"text": "Hello!", "speaker": "agent"}],
        "summary_text": "Greeting",
        "call_duration": 42,
        "call_started_at": "2026-06-11T12:00:00.000Z",
        "call_ended_at": "2026-06-11T12:00:42.000Z",
        "recording_url": "https://bucket.s3.amazonaws.com/x.wav?X-Amz-Signature=secret",
    }

    assert transcript_of(log) == {
        "id": "log-1",
        "text": "[0.50s] agent: Hello!",
        "turns": [{"text": "Hello!", "speaker": "agent"}],
        "summary": "Greeting",
        "duration": 42,
        "started_at": "2026-06-11T12:00:00.000Z",
        "ended_at": "2026-06-11T12:00:42.000Z",
    }
    assert transcript_of(None) is None


def test_redact_masks_numbers_where_people_say_them_and_leaves_metadata() -> None:
    line = {
        "to_number": "+18135551234",
        "summary_text": "Callee +18135551234 asked to be called on +447911123456.",
        "call_context": "Ring +18135551234",
        "error": None,
        "request_metadata": {"phone": "+18135551234"},
        "transcript": {
            "text": "user: my number is +33612345678",
            "summary": "Call +18135551234 back",
            "turns": [{"text": "it is +33612345678", "speaker": "user"}, {"text": "ok", "speaker": "agent"}],
        },
    }

    redact_line(line)

    assert line["to_number"] == "+1813*****34"
    assert line["summary_text"] == "Callee +1813*****34 asked to be called on +4479******56."
    assert line["call_context"] == "Ring +1813*****34"
    assert line["transcript"]["text"] == "user: my number is +3361*****78"
    assert line["transcript"]["turns"][0]["text"] == "it is +3361*****78"
    assert line["transcript"]["summary"] == "Call +1813*****34 back"
    assert line["request_metadata"] == {"phone": "+18135551234"}  # the caller's own structure


def test_only_e164_numbers_are_masked_in_text() -> None:
    assert mask_phones_in_text("Invoice #12345678, total +5 points") == "Invoice #12345678, total +5 points"
    assert mask_phones_in_text("(813) 555-1234 or 813-555-1234") == "(813) 555-1234 or 813-555-1234"
    assert mask_phones_in_text("+18135551234.") == "+1813*****34."
