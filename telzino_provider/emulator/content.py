"""Synthetic conversation content: AI summaries and transcripts of completed calls.

Everything is derived from the call itself (id, number, context, duration), so it is deterministic
and costs nothing until a completed call is actually read.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

_KEYWORD_TITLES = (
    (("appointment", "booking", "reschedul"), "Appointment confirmation"),
    (("payment", "invoice", "bill", "balance"), "Payment reminder"),
    (("deliver", "shipment", "package"), "Delivery scheduling"),
    (("survey", "feedback", "satisf"), "Customer feedback survey"),
)
_FALLBACK_TITLES = ("Appointment confirmation", "Customer follow-up", "Account update", "Service check-in")


def title_for(call_id: str, call_context: str | None) -> str:
    """Summary title: picked from keywords in the context, else deterministically from the id."""
    title = _keyword_title(call_context) if call_context else None
    return title or _FALLBACK_TITLES[int(call_id[:8], 16) % len(_FALLBACK_TITLES)]


@lru_cache(maxsize=1024)  # contexts repeat a lot (seeded calls, test suites)
def _keyword_title(call_context: str) -> str | None:
    lowered = call_context.lower()
    for keywords, title in _KEYWORD_TITLES:
        if any(word in lowered for word in keywords):
            return title
    return None


def summary_text(call_id: str, to_number: str, call_context: str | None, duration: int) -> str:
    """Markdown-like AI summary; first line is a title (as in the spec's example)."""
    lines = [title_for(call_id, call_context), "", f"- **Callee:** {to_number}"]
    if call_context:
        lines.append(f"- **Context:** {call_context}")
    lines.append("- **Outcome:** The callee answered and the agent completed the conversation.")
    lines.append(f"- **Duration:** {duration // 60}m {duration % 60:02d}s")
    return "\n".join(lines)


def transcript(call_context: str | None, duration: int) -> list[dict[str, Any]]:
    """A five-turn conversation spread over the call's duration (spec 8 ``transcript_json``)."""
    purpose = call_context[:200] if call_context else "your recent request"
    turns = (
        (0.5, "agent", "Hello! This is your Telzino assistant calling."),
        (duration * 0.2, "user", "Hi, yes. What is this about?"),
        (duration * 0.45, "agent", f"I'm calling about {purpose}."),
        (duration * 0.7, "user", "Sure, that works for me."),
        (duration * 0.9, "agent", "Great, thank you for your time. Goodbye!"),
    )
    return [
        {
            "text": text,
            "speaker": speaker,
            "timestamp": round(at, 2),
            "is_partial": False,
            "created_at": round(at, 2),
        }
        for at, speaker, text in turns
    ]


def transcript_text(entries: list[dict[str, Any]]) -> str:
    """One line per turn, e.g. ``[0.50s] agent: Hello!``."""
    return "\n".join(f"[{e['timestamp']:.2f}s] {e['speaker']}: {e['text']}" for e in entries)
