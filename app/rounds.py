"""Figures that hold on a noisy machine: every phase of a benchmark is measured once per
round, the rounds interleaved (A B C, A B C, ...), so a change of load hits every
phase alike. Each figure is reported as its median and min-max over the rounds; each
ratio is computed within a round (both sides measured minutes apart at most) and
reported as the median of those. The rounds themselves go into the JSON."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(phases: dict[str, Callable[[], float | None]], rounds: int, label: str = "bench") -> list[dict[str, float]]:
    """Run every phase once per round, in order; a phase returns its seconds (or None
    when it does not apply, e.g. a baseline that was skipped). Each phase's time goes to
    stderr as it ends, with the time the whole measurement is expected to take."""
    out = []
    start = time.perf_counter()
    for i in range(rounds):
        record = {}
        for name, phase in phases.items():
            seconds = phase()
            if seconds is not None:
                record[name] = round(seconds, 4)
                print(f"{label}: round {i + 1}/{rounds} {name} {seconds:.1f} s", file=sys.stderr, flush=True)
        out.append(record)
        elapsed = time.perf_counter() - start
        if i + 1 < rounds:
            left = elapsed / (i + 1) * (rounds - i - 1)
            print(
                f"{label}: round {i + 1}/{rounds} done in {elapsed:.0f} s; about {left:.0f} s left",
                file=sys.stderr,
                flush=True,
            )
    return out


def spread(values: list[float], digits: int = 3) -> dict:
    """median and min-max of a figure over the rounds."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def per_round(rounds: list[dict[str, float]], fn: Callable[[dict[str, float]], float | None]) -> list[float]:
    """A figure computed within each round (skipping rounds where it does not apply)."""
    values = []
    for r in rounds:
        try:
            v = fn(r)
        except (KeyError, ZeroDivisionError):
            continue
        if v is not None:
            values.append(v)
    return values
