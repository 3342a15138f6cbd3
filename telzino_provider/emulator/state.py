"""The emulator's call store: creation, indices for fast listing, and deterministic seeding.

Per agent the store keeps calls sorted by ``(created_us, id)`` ascending; "newest first" pages are
slices taken from the end. Terminal calls also live in one sorted list per terminal status, and
completed ones in a list sorted by end time (the call logs), so a status-filtered page or a call-log
page is a slice too. Calls that have not reached their terminal instant sit in a heap keyed by that
instant and are moved into the per-status lists lazily, on the next read after the (monotonic)
emulated clock passes it. Only a filter on a non-terminal status scans, and only the unsettled calls.

All methods take ``now_us`` from the caller so one request sees one consistent instant.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import heapq
import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import Any

from telzino_provider.emulator.faults import BY_CALL_START, NEWEST_FIRST, OLDEST_FIRST
from telzino_provider.emulator.records import (
    OUTCOME_NUMBERS,
    SPECIAL_SUFFIXES,
    TERMINAL_STATUSES,
    Call,
    copy_json,
)

DEFAULT_OUTCOME_WEIGHTS: Mapping[str, float] = {"completed": 80, "no_answer": 10, "busy": 5, "failed": 5}
_SEED_CONTEXTS = (
    None,
    "You are calling to confirm the customer's appointment tomorrow at 2pm.",
    "Remind the customer that invoice #{n} is due at the end of the week.",
    "Schedule a delivery window for the customer's package.",
    "Ask the customer for feedback on their recent visit.",
)
_KEY = attrgetter("key")
_LOG_KEY = attrgetter("log_key")
_END = attrgetter("end_us")


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID string drawn from ``rng`` (faster than ``uuid.UUID(int=...)``)."""
    n = rng.getrandbits(128)
    n = (n & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    n = (n & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def public_copy(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a (possibly cached) record that a caller may mutate freely."""
    out = dict(record)
    metadata = out["request_metadata"]
    if metadata is not None:
        out["request_metadata"] = copy_json(metadata)
    return out


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC during a bulk insert of long-lived objects.

    Allocating 100,000 calls otherwise triggers repeated full collections that rescan every call
    already stored; the objects form no cycles, so nothing is lost by collecting later.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def newest_first_slice(items: Sequence[Call], page: int, limit: int) -> list[Call]:
    """Page ``page`` (1-based) of ``items`` (sorted ascending) in newest-first order."""
    hi = len(items) - (page - 1) * limit
    if hi <= 0:
        return []
    return list(reversed(items[max(hi - limit, 0) : hi]))


def ordered_slice(items: Sequence[Call], page: int, limit: int, order: str) -> list[Call]:
    """Page ``page`` of ``items`` (sorted ascending by their list key) served in ``order``.

    ``oldest_first`` reverses the documented order; ``by_call_start`` sorts by the moment the call was
    answered (a call log's ``call_started_at``), newest first, for a list whose ``created_at`` is
    another moment. Both exist to test clients against a server that does not sort as documented.
    """
    if order == OLDEST_FIRST:
        return list(items[(page - 1) * limit : page * limit])
    if order == BY_CALL_START:
        items = sorted(items, key=lambda call: (call.answered_us or call.created_us, call.id))
    return newest_first_slice(items, page, limit)


class AgentCalls:
    """Sorted indices over one agent's calls (see module docstring)."""

    def __init__(self) -> None:
        self.by_created: list[Call] = []
        self.pending: list[tuple[int, str, Call]] = []  # heap on the terminal instant
        self.settled: dict[str, list[Call]] = {status: [] for status in TERMINAL_STATUSES}
        self.logs: list[Call] = []  # settled completed calls, ascending by end time

    def add(self, call: Call, now_us: int) -> None:
        bisect.insort(self.by_created, call, key=_KEY)
        if call.end_us <= now_us:
            self._settle_one(call)
        else:
            heapq.heappush(self.pending, (call.end_us, call.id, call))

    def add_many(self, calls: list[Call], now_us: int) -> None:
        """Bulk insert of calls sorted by ``key``: appended runs that one (cheap) Timsort merges."""
        _extend_sorted(self.by_created, calls, _KEY)
        settled: dict[str, list[Call]] = {status: [] for status in TERMINAL_STATUSES}
        for call in calls:
            if call.end_us <= now_us:
                settled[call.outcome].append(call)
            else:
                self.pending.append((call.end_us, call.id, call))
        heapq.heapify(self.pending)
        for status, new in settled.items():
            _extend_sorted(self.settled[status], new, _KEY)
        _extend_sorted(self.logs, sorted(settled["completed"], key=_LOG_KEY), _LOG_KEY)

    def settle(self, now_us: int) -> None:
        """Move calls whose terminal instant has passed from the heap into the sorted indices."""
        pending = self.pending
        while pending and pending[0][0] <= now_us:
            self._settle_one(heapq.heappop(pending)[2])

    def matching(self, status: str | None, now_us: int) -> Sequence[Call]:
        """Calls with ``status`` (or all calls), sorted ascending. Call ``settle`` first."""
        if status is None:
            return self.by_created
        if status in TERMINAL_STATUSES:
            return self.settled[status]
        found = [call for _, _, call in self.pending if call.status_at(now_us) == status]
        found.sort(key=_KEY)
        return found

    def _settle_one(self, call: Call) -> None:
        bisect.insort(self.settled[call.outcome], call, key=_KEY)
        if call.outcome == "completed":
            bisect.insort(self.logs, call, key=_LOG_KEY)


def _extend_sorted(target: list[Call], run: list[Call], key: Callable[[Call], Any]) -> None:
    """Append a sorted run to a sorted list, keeping it sorted (Timsort merges the two runs)."""
    if not run:
        return
    needs_merge = bool(target) and key(run[0]) < key(target[-1])
    target.extend(run)
    if needs_merge:
        target.sort(key=key)


class CallStore:
    """Thread-safe store of every agent's calls, with deterministic ids drawn from ``seed``."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._agents: dict[str, AgentCalls] = {}
        self._by_id: dict[str, Call] = {}
        # Separate streams so seeding yields the same ids whatever was created live before it.
        self._live_rng = random.Random(f"{seed}:live")
        self._seed_rng = random.Random(f"{seed}:seed")

    def register_agent(self, agent_id: str) -> None:
        with self._lock:
            self._agents.setdefault(agent_id, AgentCalls())

    def create(
        self,
        *,
        agent_id: str,
        to_number: str,
        created_us: int,
        now_us: int,
        call_context: str | None = None,
        metadata: dict[str, Any] | None = None,
        callback_url: str | None = None,
        duration: int | None = None,
        transcript_id: str | None = None,
    ) -> Call:
        """Record a new call (live API create or direct insert)."""
        with self._lock:
            call_id, generated = new_uuid(self._live_rng), new_uuid(self._live_rng)
            call = Call(
                call_id=call_id,
                transcript_id=transcript_id or generated,
                agent_id=agent_id,
                to_number=to_number,
                created_us=created_us,
                call_context=call_context,
                metadata=metadata,
                callback_url=callback_url,
                duration=duration,
            )
            self._insert(call, now_us)
            return call

    def get(self, agent_id: str, call_id: str) -> Call | None:
        with self._lock:
            call = self._by_id.get(call_id)
        return call if call is not None and call.agent_id == agent_id else None

    def list_page(
        self,
        agent_id: str,
        now_us: int,
        page: int,
        limit: int,
        status: str | None,
        order: str = NEWEST_FIRST,
        hidden: frozenset[str] = frozenset(),
    ) -> tuple[list[dict[str, Any]], int]:
        """(list items of one page, total matching) for an agent's outbound calls; ``hidden``: ids of
        calls not listed yet."""
        with self._lock:
            calls = self._agent(agent_id)
            calls.settle(now_us)
            matching = calls.matching(status, now_us)
            if hidden:
                matching = [call for call in matching if call.id not in hidden]
            if order == BY_CALL_START:  # an outbound call starts when it is created
                order = NEWEST_FIRST
            page_calls = ordered_slice(matching, page, limit, order)
            return [c.list_item(now_us) for c in page_calls], len(matching)

    def log_page(
        self,
        agent_id: str,
        now_us: int,
        page: int,
        limit: int,
        order: str = NEWEST_FIRST,
        delay_us: int = 0,
        render: Callable[[Call], dict[str, Any]] = Call.call_log,
    ) -> tuple[list[dict[str, Any]], int]:
        """(call logs of one page, total) for an agent's completed calls that ended ``delay_us`` ago."""
        with self._lock:
            calls = self._agent(agent_id)
            calls.settle(now_us)
            logs: Sequence[Call] = calls.logs
            if delay_us > 0:  # the newest logs are not listed yet
                logs = logs[: bisect.bisect_right(logs, now_us - delay_us, key=_END)]
            return [render(c) for c in ordered_slice(logs, page, limit, order)], len(logs)

    def find(self, call_id: str) -> Call | None:
        """A call of any agent by id."""
        with self._lock:
            return self._by_id.get(call_id)

    def insert_at_head(self, agent_id: str, count: int, now_us: int) -> None:
        """Insert ``count`` calls strictly newer than every existing call of the agent."""
        with self._lock:
            existing = self._agent(agent_id).by_created
            created = max(now_us, existing[-1].created_us + 1) if existing else now_us
            for offset in range(count):
                call = Call(
                    call_id=new_uuid(self._live_rng),
                    transcript_id=new_uuid(self._live_rng),
                    agent_id=agent_id,
                    to_number=OUTCOME_NUMBERS["completed"],
                    created_us=created + offset,
                )
                self._insert(call, now_us)

    def records(self, agent_id: str | None, now_us: int) -> list[dict[str, Any]]:
        """Every call's GET record (copies), newest first; all agents when ``agent_id`` is None."""
        with self._lock:
            if agent_id is None:
                calls = sorted(self._by_id.values(), key=_KEY, reverse=True)
            else:
                calls = list(reversed(self._agent(agent_id).by_created))
            return [public_copy(c.record(now_us)) for c in calls]

    def seed(
        self,
        *,
        agent_id: str,
        count: int,
        start_us: int,
        end_us: int,
        now_us: int,
        outcomes: Mapping[str, float] | None,
    ) -> list[dict[str, Any]]:
        """Insert ``count`` reproducible calls created in [start_us, end_us); records newest first."""
        if count < 0:
            raise ValueError("count must be >= 0")
        if end_us <= start_us:
            raise ValueError("end must be after start")
        names, cumulative = _weights(outcomes or DEFAULT_OUTCOME_WEIGHTS)
        with self._lock, gc_paused():
            agent = self._agent(agent_id)
            rng = self._seed_rng
            # Draw the creation instants first and sort plain ints: far cheaper than sorting calls.
            span, random_ = end_us - start_us, rng.random
            instants = sorted(start_us + int(random_() * span) for _ in range(count))
            calls = [self._seed_call(rng, agent_id, created_us, names, cumulative) for created_us in instants]
            if len(set(instants)) != len(instants):  # equal instants: order those by id too
                calls.sort(key=_KEY)
            for call in calls:
                self._by_id[call.id] = call
            agent.add_many(calls, now_us)
            # Uncached renderings: caching 100,000 records here would double memory for little gain.
            return [c.fresh_record(now_us) for c in reversed(calls)]

    def _seed_call(
        self,
        rng: random.Random,
        agent_id: str,
        created_us: int,
        names: list[str],
        cumulative: list[float],
    ) -> Call:
        # int(random() * n) rather than randrange(n): a third of the cost, and exact enough here.
        random_ = rng.random
        outcome = names[bisect.bisect_right(cumulative, random_() * cumulative[-1])]
        context = _SEED_CONTEXTS[int(random_() * len(_SEED_CONTEXTS))]
        n = int(random_() * 100_000)
        return Call(
            call_id=new_uuid(rng),
            transcript_id=new_uuid(rng),
            agent_id=agent_id,
            to_number=_seed_number(rng, outcome),
            created_us=created_us,
            call_context=context.format(n=n) if context else None,
            metadata={"crm_id": f"CRM-{n:05d}", "source": "seed"},
        )

    def _agent(self, agent_id: str) -> AgentCalls:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise ValueError(f"unknown agent {agent_id!r}") from None

    def _insert(self, call: Call, now_us: int) -> None:
        self._agent(call.agent_id).add(call, now_us)
        self._by_id[call.id] = call


def _weights(outcomes: Mapping[str, float]) -> tuple[list[str], list[float]]:
    names, cumulative, total = [], [], 0.0
    for name, weight in outcomes.items():
        if name not in TERMINAL_STATUSES:
            raise ValueError(f"unknown outcome {name!r}; expected one of {sorted(TERMINAL_STATUSES)}")
        if weight < 0:
            raise ValueError("outcome weights must be >= 0")
        if weight > 0:
            total += weight
            names.append(name)
            cumulative.append(total)
    if not names:
        raise ValueError("at least one outcome needs a positive weight")
    return names, cumulative


def _seed_number(rng: random.Random, outcome: str) -> str:
    if outcome == "failed":
        return "+18135550503" if rng.random() < 0.7 else "+18135550404"
    if outcome != "completed":
        return OUTCOME_NUMBERS[outcome]
    while True:  # any other suffix completes; redraw the rare special one
        suffix = f"{int(rng.random() * 10_000):04d}"
        if suffix not in SPECIAL_SUFFIXES:
            return f"+1813555{suffix}"
