"""join_transcripts: one lazy pass over newest-first call logs, memory bounded by the horizon."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from telzino_provider.transcript_join import join_transcripts

T0 = datetime(2026, 6, 11, tzinfo=timezone.utc)


def history(count: int, *, seed: int = 7) -> tuple[list[dict], list[dict]]:
    """``count`` calls one minute apart lasting 0-10 minutes, every third without a log; newest first."""
    rng = random.Random(seed)
    calls, logs = [], []
    for n in range(count):
        created = T0 + timedelta(minutes=n)
        ended = created + timedelta(seconds=rng.randint(0, 600))
        tid = f"log-{n}" if n % 3 else None
        calls.append({"id": f"call-{n}", "created_at": created.isoformat(), "transcript_id": tid})
        if tid:
            logs.append({"id": tid, "created_at": ended.isoformat().replace("+00:00", "Z")})
    calls.reverse()
    logs.sort(key=lambda log: log["created_at"], reverse=True)
    return calls, logs


class Counted:
    """An iterator that counts what was taken from it (a stand-in for pages requested)."""

    def __init__(self, items: list[dict]) -> None:
        self.items, self.taken = items, 0

    def __iter__(self) -> Iterator[dict]:
        for item in self.items:
            self.taken += 1
            yield item


def test_every_call_gets_its_own_log_in_order() -> None:
    calls, logs = history(500)

    joined = list(join_transcripts(calls, logs, horizon=timedelta(hours=1)))

    assert [call["id"] for call, _ in joined] == [call["id"] for call in calls]
    assert all((log["id"] if log else None) == call["transcript_id"] for call, log in joined)


def test_logs_are_read_lazily_down_to_the_oldest_call_asked_for() -> None:
    calls, logs = history(1000)
    counted = Counted(logs)

    newest = [call for call in calls if call["created_at"] >= (T0 + timedelta(minutes=900)).isoformat()]
    joined = list(join_transcripts(newest, counted, horizon=timedelta(hours=1)))

    assert all(log is not None for call, log in joined if call["transcript_id"])
    assert counted.taken < 0.15 * len(logs)  # ~100 calls' logs plus a few ahead, not the history


def test_a_log_not_listed_yet_gives_none_and_costs_no_more_than_the_window() -> None:
    calls, logs = history(300)
    missing = next(call for call in calls[:20] if call["transcript_id"])
    counted = Counted([log for log in logs if log["id"] != missing["transcript_id"]])

    joined = dict(
        (call["id"], log) for call, log in join_transcripts(calls[:50], counted, horizon=timedelta(hours=1))
    )

    assert joined[missing["id"]] is None
    assert (
        sum(log is not None for log in joined.values())
        == sum(1 for c in calls[:50] if c["transcript_id"]) - 1
    )
    assert counted.taken < 80


def test_logs_too_new_for_any_call_to_come_are_not_kept() -> None:
    calls, logs = history(2000)
    # Join only the oldest 100 calls: every newer log is read past, and must not be held on to.
    oldest = calls[-100:]
    join = join_transcripts(oldest, logs, horizon=timedelta(minutes=15))
    first_call, first_log = next(join)
    frame = join.gi_frame
    assert frame is not None
    assert len(frame.f_locals["waiting"]) <= 30  # logs within the 15 minute horizon, not ~1,300
    assert first_log is None or first_log["id"] == first_call["transcript_id"]


def test_a_call_that_lasted_longer_than_the_horizon_gets_none() -> None:
    call = {"id": "c", "created_at": T0.isoformat(), "transcript_id": "log-c"}
    log = {"id": "log-c", "created_at": (T0 + timedelta(hours=3)).isoformat()}

    assert list(join_transcripts([call], [log], horizon=timedelta(hours=2))) == [(call, None)]
    assert list(join_transcripts([call], [log], horizon=timedelta(hours=4))) == [(call, log)]


def test_a_log_stamped_slightly_before_its_call_is_found_within_the_margin() -> None:
    call = {"id": "c", "created_at": T0.isoformat(), "transcript_id": "log-c"}
    other = {"id": "log-other", "created_at": (T0 - timedelta(seconds=30)).isoformat()}
    log = {"id": "log-c", "created_at": (T0 - timedelta(minutes=1)).isoformat()}

    assert list(join_transcripts([call], [other, log], horizon=timedelta(hours=1))) == [(call, None)]
    found = join_transcripts([call], [other, log], horizon=timedelta(hours=1), margin=timedelta(minutes=5))
    assert list(found) == [(call, log)]
