"""Keeping personal data out of logs, and out of what lands in storage when asked to."""

from __future__ import annotations

import re

#: An E.164 number inside free text: "+", a non-zero digit, 7 to 15 digits in all (ASCII only).
E164_IN_TEXT = re.compile(r"(?<![0-9+])\+[1-9][0-9]{6,14}(?![0-9])")


def mask_phone(number: object) -> str:
    """``+18135551234`` -> ``+1813*****34``: enough to tell calls apart, not enough to dial."""
    text = str(number or "")
    if len(text) <= 7:
        return "*" * len(text)
    return text[:5] + "*" * (len(text) - 7) + text[-2:]


def mask_phones_in_text(text: str) -> str:
    """Every E.164 number in ``text`` masked as :func:`mask_phone` masks one."""
    if "+" not in text:  # the common case, and the cheap test
        return text
    return E164_IN_TEXT.sub(lambda match: mask_phone(match.group()), text)
