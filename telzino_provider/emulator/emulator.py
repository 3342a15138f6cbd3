"""The :class:`TelzinoEmulator` facade: configuration, lifecycle and the Python test API."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

from telzino_provider.emulator import validation
from telzino_provider.emulator.agents import Agent
from telzino_provider.emulator.auth import TokenIssuer
from telzino_provider.emulator.clock import EmulatedClock
from telzino_provider.emulator.faults import FaultPlan
from telzino_provider.emulator.recordings import DEFAULT_TTL_SECONDS, RecordingSigner
from telzino_provider.emulator.records import OUTCOME_NUMBERS, copy_json
from telzino_provider.emulator.requestlog import RequestLog, RequestRecord
from telzino_provider.emulator.routes import TelzinoApi
from telzino_provider.emulator.server import EmulatorHTTPServer
from telzino_provider.emulator.state import CallStore, new_uuid, public_copy
from telzino_provider.emulator.timefmt import to_us

_AGENT_AGE = timedelta(days=30)  # agents predate everything the tests create


class TelzinoEmulator:
    """A local, in-memory Telzino API on ``host:port`` (port 0 = pick a free port).

    Time is emulated (see :meth:`now`): with the default ``speed=0.0`` it only moves through
    :meth:`advance`, which makes call lifecycles deterministic in tests; ``speed=1.0`` runs in real
    time, ``speed=60`` makes a minute pass each second. ``latency`` seconds are slept before every
    answer. ``token_ttl`` is the lifetime of OAuth tokens in *real* seconds. ``recording_ttl`` is how
    long, in emulated seconds after a call ended, its call log's pre-signed ``recording_url`` works
    (then 403, as S3 answers). ``seed`` fixes every
    generated id (agents, credentials, calls), so two emulators with the same seed agree.

    The emulator never makes outbound network connections: result webhooks are not sent and
    ``callback_delivered`` is always ``false`` once a call is terminal.

    Use as a context manager (``with TelzinoEmulator() as emu:``) or call :meth:`start` /
    :meth:`stop`. All methods are thread-safe.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        speed: float = 0.0,
        latency: float = 0.0,
        token_ttl: int = 86400,
        seed: int = 1234,
        start_time: datetime | None = None,
        recording_ttl: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.seed = seed
        self._clock = EmulatedClock(start_time or datetime.now(timezone.utc), speed)
        self._store = CallStore(seed)
        ids = random.Random(f"{seed}:ids")
        self._issuer = TokenIssuer(ids, token_ttl)
        self._faults = FaultPlan()
        self._recordings = RecordingSigner(seed, recording_ttl)
        self._log = RequestLog()
        self._ids = ids
        self._ids_lock = threading.Lock()
        self.organization_id = new_uuid(ids)
        self._agents: dict[str, Agent] = {}
        self.agent_id = self.add_agent("Emulator Agent")
        self.forbidden_agent_id = self.add_agent("Another organization's agent", accessible=False)
        self._api = TelzinoApi(
            clock=self._clock,
            store=self._store,
            issuer=self._issuer,
            faults=self._faults,
            agents=self._agents,
            recordings=self._recordings,
        )
        self.latency = latency
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> TelzinoEmulator:
        """Bind, start serving in a daemon thread and start the clock. Returns ``self``."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = EmulatorHTTPServer((self.host, self._requested_port), self._api, self._log)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="telzino-emulator", daemon=True
        )
        self._thread.start()
        self._clock.start()
        return self

    def stop(self) -> None:
        """Stop serving, close client connections and freeze the clock. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._clock.stop()

    def __enter__(self) -> TelzinoEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.base_url if self._server is not None else "stopped"
        return f"<TelzinoEmulator {state} agent={self.agent_id}>"

    # -- connection details --------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        return self._server.server_address[1] if self._server is not None else self._requested_port

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>``, no trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def token(self) -> str:
        """A static bearer token that is always valid (not affected by expiry)."""
        return self._issuer.static_token

    @property
    def client_id(self) -> str:
        return self._issuer.client_id

    @property
    def client_secret(self) -> str:
        return self._issuer.client_secret

    @property
    def token_ttl(self) -> int:
        """Lifetime in real seconds of tokens issued from now on (also their ``expires_in``)."""
        return self._issuer.token_ttl

    @token_ttl.setter
    def token_ttl(self, value: int) -> None:
        self._issuer.token_ttl = value

    def add_agent(self, name: str = "Emulator Agent", *, accessible: bool = True) -> str:
        """Create another agent (``accessible=False``: exists, but the tokens get 403). Returns its id."""
        with self._ids_lock:
            agent_id = new_uuid(self._ids)
            organization = self.organization_id if accessible else new_uuid(self._ids)
        created_us = to_us(self._clock.now() - _AGENT_AGE)
        self._agents[agent_id] = Agent(agent_id, organization, name, created_us, accessible)
        self._store.register_agent(agent_id)
        return agent_id

    # -- time ----------------------------------------------------------------------------------
    def now(self) -> datetime:
        """Emulated now (aware UTC): start_time + advance() total + speed * real seconds running."""
        return self._clock.now()

    def advance(self, seconds: float) -> None:
        """Move emulated time forward by ``seconds``."""
        self._clock.advance(seconds)

    @property
    def speed(self) -> float:
        """Emulated seconds per real second (0 = frozen except :meth:`advance`); settable."""
        return self._clock.speed

    @speed.setter
    def speed(self, value: float) -> None:
        self._clock.speed = value

    @property
    def recording_ttl(self) -> float:
        """Emulated seconds a call's ``recording_url`` stays valid after the call ended; settable.

        Links are signed when the call ends, so shortening this expires the links of older calls.
        """
        return self._recordings.ttl_seconds

    @recording_ttl.setter
    def recording_ttl(self, value: float) -> None:
        if value < 0:
            raise ValueError("recording_ttl must be >= 0")
        self._recordings.ttl_seconds = value

    @property
    def latency(self) -> float:
        """Seconds slept before answering every request; settable."""
        return self._api.latency

    @latency.setter
    def latency(self, value: float) -> None:
        if value < 0:
            raise ValueError("latency must be >= 0")
        self._api.latency = value

    @property
    def call_log_delay(self) -> float:
        """Emulated seconds between a completed call's end and its call log being listed (default 0):
        the docs allow a transcript to appear shortly after the call turns ``completed``; settable."""
        return self._api.call_log_delay

    @call_log_delay.setter
    def call_log_delay(self, value: float) -> None:
        if value < 0:
            raise ValueError("call_log_delay must be >= 0")
        self._api.call_log_delay = value

    # -- calls ---------------------------------------------------------------------------------
    def seed_calls(
        self,
        count: int,
        *,
        start: datetime,
        end: datetime,
        agent_id: str | None = None,
        outcomes: Mapping[str, float] | None = None,
    ) -> list[dict[str, Any]]:
        """Insert ``count`` historical calls created uniformly in [start, end); newest-first records.

        Reproducible from ``seed``. ``outcomes`` maps terminal status -> weight (default 80%
        completed, 10% no_answer, 5% busy, 5% failed).
        """
        return self._store.seed(
            agent_id=agent_id or self.agent_id,
            count=count,
            start_us=to_us(start),
            end_us=to_us(end),
            now_us=self._clock.now_us(),
            outcomes=outcomes,
        )

    def add_call(
        self,
        *,
        to_number: str = OUTCOME_NUMBERS["completed"],
        created_at: datetime | None = None,
        agent_id: str | None = None,
        call_context: str | None = None,
        metadata: dict[str, Any] | None = None,
        callback_url: str | None = None,
        duration: int | None = None,
        transcript_id: str | None = None,
    ) -> dict[str, Any]:
        """Insert one call directly (not logged as a request); returns its record as of now.

        The same validation as ``POST .../outbound-calls`` applies (``ValueError`` on failure);
        ``duration`` (seconds of talk time) only matters for numbers that complete. ``transcript_id``
        sets the id of its call log (default a UUID), e.g. ``log-<uuid>`` as the docs' example shows.
        """
        body = {
            "to_number": to_number,
            "call_context": call_context,
            "metadata": metadata,
            "callback_url": callback_url,
        }
        try:
            spec = validation.create_call_body(body)
        except validation.ApiError as error:
            raise ValueError(error.message) from None
        if duration is not None and (not isinstance(duration, int) or duration < 0):
            raise ValueError("duration must be a non-negative int")
        if transcript_id is not None and (not isinstance(transcript_id, str) or not transcript_id):
            raise ValueError("transcript_id must be a non-empty string")
        now_us = self._clock.now_us()
        call = self._store.create(
            agent_id=agent_id or self.agent_id,
            to_number=spec.to_number,
            created_us=now_us if created_at is None else to_us(created_at),
            now_us=now_us,
            call_context=spec.call_context,
            metadata=copy_json(spec.metadata),  # later changes to the caller's object must not leak in
            callback_url=spec.callback_url,
            duration=duration,
            transcript_id=transcript_id,
        )
        return public_copy(call.record(now_us))

    def calls(self, agent_id: str | None = None) -> list[dict[str, Any]]:
        """Every call's record as of now, newest first (all agents when ``agent_id`` is None)."""
        return self._store.records(agent_id, self._clock.now_us())

    # -- request log ---------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of the request log (oldest first)."""
        return self._log.snapshot()

    def clear_requests(self) -> None:
        self._log.clear()

    def count_requests(self, method: str | None = None, path_prefix: str | None = None) -> int:
        return self._log.count(method, path_prefix)

    # -- faults --------------------------------------------------------------------------------
    def fail_next(
        self,
        count: int,
        status: int = 503,
        *,
        retry_after: str | None = None,
        body: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests (of ``method``, any if None; never ``/oauth/token``)
        with ``status``, an optional ``Retry-After`` (seconds or HTTP-date) and an optional raw body
        (default: a JSON error body)."""
        self._faults.fail_next(count, status, retry_after, body, method)

    def rate_limit(self, max_requests: int | None, per_seconds: float = 1.0, retry_after: str = "1") -> None:
        """Allow ``max_requests`` per sliding ``per_seconds`` of real time, else 429 with
        ``Retry-After``. ``None`` disables. ``/oauth/token`` is not limited."""
        self._faults.rate_limit(max_requests, per_seconds, retry_after)

    def hang_next(self, count: int, seconds: float) -> None:
        """Stall the next ``count`` requests for ``seconds`` real seconds before answering normally."""
        self._faults.hang_next(count, seconds)

    def malformed_next(self, count: int) -> None:
        """Answer the next ``count`` requests with 200 and a body that is not valid JSON."""
        self._faults.malformed_next(count)

    def insert_calls_between_pages(self, n: int, *, pages: int | None = None) -> None:
        """After each outbound-call list page, insert ``n`` calls newer than all others (0 = off);
        with ``pages``, only after the next ``pages`` list pages (``n=7000, pages=1``: one burst of
        calls created while a client reads the list)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        self._faults.insert_between_pages(n, pages)

    def set_list_order(self, order: str) -> None:
        """Serve both list endpoints in ``order``, to test clients against a server that does not sort
        as documented: ``"newest_first"`` (the documented order, the default), ``"oldest_first"``, or
        ``"by_call_start"`` (call logs by ``call_started_at``, newest first, while their ``created_at``
        is the end of the call; outbound calls stay newest first). ``reset_faults`` restores the default.
        """
        self._faults.set_list_order(order)

    def drop_next_post_response(self, count: int = 1) -> None:
        """The next ``count`` successful creates record the call but close the connection unanswered."""
        self._faults.drop_next_post_response(count)

    def omit_id_next_create(self, count: int = 1) -> None:
        """The next ``count`` successful creates record the call and answer 202 without ``id``."""
        self._faults.omit_id_next_create(count)

    @property
    def listing_delay(self) -> float:
        """Real seconds after its create before a call appears in the list endpoint (default 0); a
        fault setting (``reset_faults`` restores 0), settable."""
        return self._faults.listing_delay

    @listing_delay.setter
    def listing_delay(self, value: float) -> None:
        self._faults.set_visibility_delays(listing=value)

    @property
    def read_delay(self) -> float:
        """Real seconds after its create during which a call's own GET answers 404 (default 0); a
        fault setting (``reset_faults`` restores 0), settable."""
        return self._faults.read_delay

    @read_delay.setter
    def read_delay(self, value: float) -> None:
        self._faults.set_visibility_delays(read=value)

    def hold_next_create(self, seconds: float, *, record_first: bool = False, count: int = 1) -> None:
        """Stall the next ``count`` valid creates ``seconds`` real seconds. By default the call is
        recorded after the stall (a client that gave up sees it appear later); ``record_first=True``
        records it at once and stalls only the answer (a client killed meanwhile never gets it)."""
        self._faults.hold_next_create(count, seconds, record_first)

    def expire_tokens(self) -> None:
        """Invalidate every OAuth token issued so far (the static :attr:`token` stays valid)."""
        self._issuer.expire_all()

    def reset_faults(self) -> None:
        """Turn every fault knob off (latency is a setting, not a fault, and is kept)."""
        self._faults.reset()
