"""Call recordings: a small generated WAV per completed call, behind a pre-signed, expiring URL.

The API docs describe a call log's ``recording_url`` as a pre-signed S3 URL that can expire. The
emulator signs each URL once, when the call ends (``expires = ended + ttl``), so a link read long
after the call has expired, as an S3 link would have; the route then answers 403 with S3's error
body. ``ttl`` (emulated seconds) is a setting, default 7 days (the longest S3 allows for a pre-signed
URL); a test shortens it and moves the clock to expire links.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
from functools import lru_cache

from telzino_provider.emulator.timefmt import US_PER_S

PATH_PREFIX = "/recordings/"
DEFAULT_TTL_SECONDS = 7 * 24 * 3600
SAMPLE_RATE = 8000
_EXPIRED_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)
_BAD_SIGNATURE_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>'
    b"<Message>The request signature we calculated does not match the signature you provided."
    b"</Message></Error>"
)


class RecordingSigner:
    """Signs and checks recording URLs with a secret derived from the emulator's seed."""

    def __init__(self, seed: int, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> None:
        self._secret = hashlib.sha256(f"{seed}:recordings".encode()).digest()
        self.ttl_seconds = ttl_seconds

    def url(self, base_url: str, call_id: str, ended_us: int) -> str:
        """The pre-signed URL of a call's recording, valid until ``ended + ttl``."""
        expires = ended_us // US_PER_S + int(self.ttl_seconds)
        return (
            f"{base_url}{PATH_PREFIX}{call_id}.wav?expires={expires}&signature={self._sign(call_id, expires)}"
        )

    def check(self, call_id: str, expires: str, signature: str, now_us: int) -> bytes | None:
        """None when the link is valid now, else the S3-style error body to answer 403 with."""
        if not expires.isdigit() or not hmac.compare_digest(self._sign(call_id, int(expires)), signature):
            return _BAD_SIGNATURE_BODY
        if now_us // US_PER_S >= int(expires):
            return _EXPIRED_BODY
        return None

    def _sign(self, call_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{call_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]


@lru_cache(maxsize=256)
def wav_bytes(call_id: str, duration: int) -> bytes:
    """A short tone as 8 kHz 8-bit mono PCM WAV, 2 to 6 KB, its length fixed by the call."""
    samples = 2000 + (int(call_id[:8], 16) + duration * 37) % 4000
    pitch = 300 + duration % 400
    data = bytes(128 + int(60 * math.sin(2 * math.pi * pitch * n / SAMPLE_RATE)) for n in range(samples))
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE, 1, 8)
    return header + fmt + b"data" + struct.pack("<I", len(data)) + data
