"""Keeping personal data out of logs, and out of what lands in storage when asked to."""

from __future__ import annotations

import re

#: An E.164 number inside free text: "+", a non-zero digit, 7 to 15 digits in all (ASCII only).
E164_IN_TEXT = re.compile(r"(?<![0-9+])\+[1-9][0-9]{6,14}(?![0-9])")


#: Digits always hidden, whatever the number's length: a short number is no easier to dial.
HIDDEN_DIGITS = 5
#: Most digits ever shown: 4 in front (country and area code), 2 at the end.
SHOWN_FRONT, SHOWN_END = 4, 2


def mask_phone(number: object) -> str:
    """``+18135551234`` -> ``+1813*****34``, ``+1234567`` -> ``+1*****7``: enough to tell calls
    apart, not enough to dial (at least five digits hidden)."""
    text = str(number or "")
    sign, digits = ("+", text[1:]) if text.startswith("+") else ("", text)
    shown = min(max(len(digits) - HIDDEN_DIGITS, 0), SHOWN_FRONT + SHOWN_END)
    end = min(SHOWN_END, shown // 2)
    front = shown - end
    return sign + digits[:front] + "*" * (len(digits) - shown) + digits[len(digits) - end :]


def mask_phones_in_text(text: str) -> str:
    """Every E.164 number in ``text`` masked as :func:`mask_phone` masks one."""
    if "+" not in text:  # the common case, and the cheap test
        return text
    return E164_IN_TEXT.sub(lambda match: mask_phone(match.group()), text)
