"""The emulated clock.

``now = start_time + manual offset + speed * real seconds elapsed since start()``.

Call statuses are derived from this clock at read time, so moving it (``advance()``) or running it
faster (``speed``) moves every call through its lifecycle without any background thread.
The clock never goes backwards: ``advance()`` rejects negative values and changing ``speed``
re-anchors the real-time origin so the current emulated instant is preserved.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from telzino_provider.emulator.timefmt import US_PER_S, from_us, to_us


class EmulatedClock:
    """Thread-safe emulated UTC clock with microsecond resolution (see module docstring)."""

    def __init__(self, start_time: datetime, speed: float = 0.0) -> None:
        _check_speed(speed)
        self._lock = threading.Lock()
        self._base_us = to_us(start_time)  # emulated time at the real-time anchor
        self._speed = float(speed)
        self._anchor: float | None = None  # real monotonic time; None = not running yet

    def start(self) -> None:
        """Start letting real time drive the clock (at ``speed``)."""
        with self._lock:
            if self._anchor is None:
                self._anchor = time.monotonic()

    def stop(self) -> None:
        """Freeze real-time progress (emulated time keeps its current value)."""
        with self._lock:
            self._rebase()
            self._anchor = None

    def now_us(self) -> int:
        """Current emulated time in epoch microseconds."""
        with self._lock:
            return self._base_us + int(self._running_us())

    def now(self) -> datetime:
        """Current emulated time as an aware UTC datetime."""
        return from_us(self.now_us())

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError("the emulated clock cannot go backwards")
        with self._lock:
            self._base_us += round(seconds * US_PER_S)

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        _check_speed(value)
        with self._lock:
            self._rebase()
            self._speed = float(value)

    def _running_us(self) -> float:
        if self._anchor is None:
            return 0.0
        return (time.monotonic() - self._anchor) * self._speed * US_PER_S

    def _rebase(self) -> None:
        # Fold the time run so far into the base so a speed change does not rewrite the past.
        self._base_us += int(self._running_us())
        if self._anchor is not None:
            self._anchor = time.monotonic()


def _check_speed(speed: float) -> None:
    if speed < 0:
        raise ValueError("speed must be >= 0")
