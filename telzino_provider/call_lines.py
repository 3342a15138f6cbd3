"""The JSON Lines a transfer lands: one call per line, its transcript, its recording, optionally redacted.

A line is the call as the list endpoint gives it (trimmed to ``fields`` when given), plus

* ``transcript`` (when transcripts are asked for): the call's log as ``{"id", "text", "turns",
  "summary", "duration", "started_at", "ended_at"}`` (``transcript_text``, ``transcript_json``,
  ``summary_text``, ``call_duration``, ``call_started_at``, ``call_ended_at``), or null for a call
  without one. The log's ``recording_url`` is left out: it is a short-lived credential.
* ``recording`` (when a recording is stored): ``{"uri", "bytes"}`` of the copied audio.

Lines are UTF-8. A string from the API may hold a lone surrogate (valid JSON such as ``"\\ud83d"``,
half an emoji cut by a UTF-16 producer) that UTF-8 cannot carry: it lands as U+FFFD (the
replacement character), with a warning, so one character never stops a window from landing.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from telzino_provider.redaction import mask_phone, mask_phones_in_text
from telzino_provider.storage import WRITE_CHUNK, ObjectSink

logger = logging.getLogger(__name__)

Record = dict[str, Any]

#: A surrogate code point: in a str decoded from JSON only an unpaired one is left (pairs are joined).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"

#: Free-text fields of a call where E.164 numbers are masked by ``redact``.
CALL_TEXT_FIELDS = ("summary_text", "call_context", "error")


def transcript_of(log: Record | None) -> Record | None:
    """The ``transcript`` value of a line, from a call log."""
    if log is None:
        return None
    return {
        "id": log.get("id"),
        "text": log.get("transcript_text"),
        "turns": log.get("transcript_json"),
        "summary": log.get("summary_text"),
        "duration": log.get("call_duration"),
        "started_at": log.get("call_started_at"),
        "ended_at": log.get("call_ended_at"),
    }


def redact_line(line: Record) -> Record:
    """Mask phone numbers in place: ``to_number`` whole, and E.164 numbers in the call's free text
    (summary, context, error) and in the transcript (text, turns, summary).

    ``request_metadata`` (the caller's own structure) and the recordings' audio are not changed.
    """
    if line.get("to_number"):
        line["to_number"] = mask_phone(line["to_number"])
    for name in CALL_TEXT_FIELDS:
        if isinstance(line.get(name), str):
            line[name] = mask_phones_in_text(line[name])
    transcript = line.get("transcript")
    if transcript:
        for name in ("text", "summary"):
            if isinstance(transcript.get(name), str):
                transcript[name] = mask_phones_in_text(transcript[name])
        turns = transcript.get("turns")
        if isinstance(turns, list):
            transcript["turns"] = [_redact_turn(turn) for turn in turns]
    return line


def _redact_turn(turn: Any) -> Any:
    if isinstance(turn, dict) and isinstance(turn.get("text"), str):
        return {**turn, "text": mask_phones_in_text(turn["text"])}
    return turn


class JsonLinesWriter:
    """Serialises records one per line into a sink, gathered into chunks of :data:`WRITE_CHUNK` bytes."""

    def __init__(self, sink: ObjectSink) -> None:
        self._sink = sink
        self._pending: list[str] = []
        self._pending_chars = 0
        self.lines = 0
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def write(self, record: Record) -> None:
        text = self._encode(record)
        self._pending.append(text)
        self._pending_chars += len(text) + 1
        self.lines += 1
        if self._pending_chars >= WRITE_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._sink.write(utf8("\n".join(self._pending) + "\n"))
            self._pending.clear()
            self._pending_chars = 0


def utf8(text: str) -> bytes:
    """``text`` as UTF-8, each lone surrogate replaced by U+FFFD (see the module docstring)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # rare: only then is the text searched
        cleaned, count = LONE_SURROGATE.subn(REPLACEMENT, text)
        logger.warning("Replaced %d unpaired surrogate(s) in API strings with U+FFFD", count)
        return cleaned.encode("utf-8")
