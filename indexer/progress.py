"""Progress of work that takes minutes or hours: a bar with rate and time left on a terminal, a line
every half minute in a log (a bar's carriage returns make an unreadable log file)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

LOG_EVERY = 30.0


class Meter:
    """Counts units of work done out of a total and shows it; `update` takes fractions of a unit too."""

    def __init__(self, total: float, label: str, unit: str, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total, self.label, self.unit = total, label, unit
        self.done = 0.0
        self.started = self.last_line = time.monotonic()
        self.bar = tqdm(total=total, desc=label, unit=unit, file=self.stream) if self.stream.isatty() else None

    def update(self, amount: float) -> None:
        self.done += amount
        if self.bar is not None:
            self.bar.update(amount)
        elif time.monotonic() - self.last_line >= LOG_EVERY:
            self.last_line = time.monotonic()
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        """Returns the progress so far in words: done, share, rate and time left."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        share = 100 * self.done / self.total if self.total else 100.0
        eta = f"about {format_duration(left)} left" if left != float("inf") else "time left not yet known"
        return (
            f"{self.label}: {self.done:,.0f} of {self.total:,.0f} {self.unit}s ({share:.0f}%), "
            f"{rate:,.1f} {self.unit}s/s, {eta}"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def format_duration(seconds: float) -> str:
    """Returns a duration as a person reads it: 45 s, 12 min, 3 h 20 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
