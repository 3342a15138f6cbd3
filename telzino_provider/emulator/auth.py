"""OAuth 2.0 client-credentials emulation (spec section 2).

Two kinds of bearer token are accepted on ``/v1`` routes:

* the *static* token (``TelzinoEmulator.token``), valid for the emulator's whole life, handy for
  connections configured with a fixed token;
* tokens issued by ``POST /oauth/token``: JWT-looking (``RS256`` header, Auth0-style claims, random
  signature, never verified by anyone), unique per issue, valid for ``token_ttl`` *real* seconds
  (so a test can use ``token_ttl=1`` and sleep) or until :meth:`TokenIssuer.expire_all`.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import string
import threading
import time
import uuid
from typing import Any

_CLIENT_ID_ALPHABET = string.ascii_letters + string.digits


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input (str compare_digest raises)."""
    return secrets.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64json(obj: dict[str, Any]) -> str:
    return _b64url(json.dumps(obj, separators=(",", ":")).encode())


class TokenIssuer:
    """Holds the client credentials, the static token and the issued tokens' expiry times."""

    def __init__(self, rng: random.Random, token_ttl: int) -> None:
        self.client_id = "".join(rng.choice(_CLIENT_ID_ALPHABET) for _ in range(32))
        self.client_secret = f"{rng.getrandbits(256):064x}"
        self.static_token = f"tzemu_{rng.getrandbits(128):032x}"
        self.token_ttl = token_ttl
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}  # issued token -> time.monotonic() deadline

    def credentials_ok(self, client_id: str, client_secret: str) -> bool:
        return _same(client_id, self.client_id) and _same(client_secret, self.client_secret)

    def issue(self, audience: str) -> str:
        """Mint a new access token valid for ``token_ttl`` real seconds."""
        issued_at = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": "telzino-emulator"}
        claims = {
            "iss": "https://auth.telzino-emulator.invalid/",
            "sub": f"{self.client_id}@clients",
            "aud": audience,
            "iat": issued_at,
            "exp": issued_at + self.token_ttl,
            "gty": "client-credentials",
            "jti": str(uuid.uuid4()),
        }
        token = f"{_b64json(header)}.{_b64json(claims)}.{_b64url(secrets.token_bytes(32))}"
        with self._lock:
            self._expiry[token] = time.monotonic() + self.token_ttl
        return token

    def is_valid(self, token: str) -> bool:
        if _same(token, self.static_token):
            return True
        with self._lock:
            deadline = self._expiry.get(token)
        return deadline is not None and time.monotonic() < deadline

    def expire_all(self) -> None:
        """Invalidate every issued token (the static token stays valid)."""
        with self._lock:
            self._expiry.clear()
