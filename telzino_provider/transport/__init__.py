"""HTTP transport for the Telzino API: auth, retries and paging, apart from the API methods."""

from __future__ import annotations

from telzino_provider.transport.client import TelzinoTransport
from telzino_provider.transport.paging import iter_newest_first

__all__ = ["TelzinoTransport", "iter_newest_first"]
