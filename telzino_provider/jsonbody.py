"""The one way request bodies are written as JSON: compact UTF-8, without NaN or Infinity.

The API limits ``metadata`` by its size in bytes when serialized, so the size check
(:func:`telzino_provider.validation.optional_metadata`) and the transport must produce the same
bytes: both call :func:`encode_json`.
"""

from __future__ import annotations

import json
from typing import Any


def encode_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON.

    Raises ValueError for NaN or Infinity (not JSON, and refused by the API) or a lone surrogate in a
    string (not UTF-8), TypeError for a value JSON has no type for.
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def json_problem(err: Exception) -> str:
    """What :func:`encode_json` refused, in words that say how to fix it."""
    if isinstance(err, UnicodeError):
        return "a string is not valid Unicode (it holds a lone surrogate); fix the text"
    if isinstance(err, ValueError) and "float" in str(err):
        return "a number is NaN or Infinity, which JSON cannot carry; use null or a string instead"
    return f"not JSON-serializable ({err}); use plain values (str, int, float, bool, None, list, dict)"
