"""What the workers did: events processed, retried and failed by type, how late they started and how
long they took.

Workers count in memory (no Redis round trip on the hot path) and flush every couple of seconds
from their liveness thread into Redis: running totals for Prometheus (counters, and lateness and
duration histograms per event type), and per-minute counts and lateness samples (kept an hour)
for the admin's "last minutes" figures, in milliseconds read from the samples themselves rather
than from histogram bounds. Event types come from the fixed job ids ("fleet-arrival-12" is a
fleet-arrival); the periodic jobs (settings.GAME_PERIODIC_JOBS, "probe-update-<due>") are kept
apart from the game's events, as they run about a second after their nominal time by design.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from redis import Redis

# Upper bounds (seconds) of the histograms, as Prometheus buckets.
LATENESS_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
)  # fmt: skip
DURATION_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
)  # fmt: skip
TOTALS = "gc:metrics:totals"
MINUTE = "gc:metrics:minute:{}"
SAMPLES = "gc:metrics:lateness:{}:{}"  # minute, kind: "<ms> <weight>" entries
MINUTES_KEPT = 60
SAMPLE_MINUTES_KEPT = 10  # the admin shows the last 5 minutes
SAMPLES_PER_FLUSH = 100  # per kind and process: a uniform sample of what it saw since the last flush
KINDS = ("game", "periodic")

_lock = threading.Lock()
_pending: Counter[str] = Counter()
_samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
_seen: Counter[str] = Counter()


def event_type(job_id: str) -> str:
    """'fleet-arrival-12' -> 'fleet-arrival'; ids without a numeric tail are their own type."""
    return re.sub(r"-\d+$", "", job_id)


def kind_of(event_type: str) -> str:
    """'periodic' for the runs of settings.GAME_PERIODIC_JOBS ('probe-update'), else 'game'."""
    periodic = {job_id for job_id, _, _ in settings.GAME_PERIODIC_JOBS}
    return "periodic" if event_type in periodic else "game"


def _bucket(value: float, bounds: tuple[float, ...]) -> str:
    return str(next((b for b in bounds if value <= b), "inf"))


def record(job_id: str, *, ok: bool, lateness: float | None, duration: float, final: bool = True) -> None:
    """One attempt of a job: `ok`, or failed and then retried (`final` False) or given up.
    `duration` is the job's share of the worker's time; `lateness` None for a retry (late by design)."""
    kind = event_type(job_id)
    outcome = "processed" if ok else ("failed_final" if final else "retried")
    fields = [f"{outcome}:{kind}", f"duration_bucket:{kind}:{_bucket(duration, DURATION_BUCKETS)}"]
    fields.append(f"duration_count:{kind}")
    sums = {f"duration_sum_us:{kind}": int(duration * 1_000_000)}
    if lateness is not None:
        late = max(lateness, 0.0)
        fields += [f"lateness_bucket:{kind}:{_bucket(late, LATENESS_BUCKETS)}", f"lateness_count:{kind}"]
        if lateness < 0:
            fields.append(f"early:{kind}")
        sums[f"lateness_sum_us:{kind}"] = int(late * 1_000_000)
    with _lock:
        _pending.update(fields)
        _pending.update(sums)
        if lateness is not None:
            _sample(kind_of(kind), lateness * 1000)


def _sample(kind: str, lateness_ms: float) -> None:
    """Reservoir sampling (algorithm R): every value seen since the last flush equally likely kept."""
    _seen[kind] += 1
    kept = _samples[kind]
    if len(kept) < SAMPLES_PER_FLUSH:
        kept.append(lateness_ms)
    else:
        slot = random.randrange(_seen[kind])
        if slot < SAMPLES_PER_FLUSH:
            kept[slot] = lateness_ms


def flush(connection: Redis) -> None:
    """Add what this process counted since the last flush to the shared totals (one round trip)."""
    with _lock:
        counts = dict(_pending)
        _pending.clear()
        samples = {kind: (values, _seen[kind]) for kind, values in _samples.items() if values}
        for kind in KINDS:
            _samples[kind] = []
        _seen.clear()
    if not counts:
        return
    minute_number = int(time.time() // 60)
    minute = MINUTE.format(minute_number)
    pipe = connection.pipeline(transaction=False)
    for field, amount in counts.items():
        pipe.hincrby(TOTALS, field, amount)
        if field.startswith(("processed:", "retried:", "failed_final:")):
            pipe.hincrby(minute, field, amount)
    pipe.expire(minute, MINUTES_KEPT * 60)
    for kind, (values, seen) in samples.items():
        # each kept value stands for seen / kept values of this process: weighted percentiles
        weight = seen / len(values)
        key = SAMPLES.format(minute_number, kind)
        pipe.rpush(key, *(f"{value:.3f} {weight:.4g}" for value in values))
        pipe.expire(key, SAMPLE_MINUTES_KEPT * 60)
    pipe.execute()


@dataclass(frozen=True)
class KindFigures:
    """One kind of job over the last minutes: counts, and lateness in ms (None without samples)."""

    events_per_minute: float
    failed: int  # given up after the last retry
    retried: int  # failed attempts that were retried
    lateness_p50_ms: float | None
    lateness_p99_ms: float | None
    lateness_max_ms: float | None


@dataclass(frozen=True)
class RecentFigures:
    minutes: int
    kinds: dict[str, KindFigures]  # "game", "periodic"


def recent(connection: Redis, minutes: int = 5) -> RecentFigures:
    """Per kind, over the last `minutes` minutes: events per minute, failures, retries and lateness
    percentiles computed from the workers' samples."""
    now_minute = int(time.time() // 60)
    span = range(now_minute - minutes + 1, now_minute + 1)
    pipe = connection.pipeline(transaction=False)
    for m in span:
        pipe.hgetall(MINUTE.format(m))
    for m in span:
        for kind in KINDS:
            pipe.lrange(SAMPLES.format(m, kind), 0, -1)
    answers = pipe.execute()
    counts: Counter[tuple[str, str]] = Counter()  # (outcome, kind) -> count
    for bucket in answers[: len(span)]:
        for field, value in bucket.items():
            outcome, _, event = field.decode().partition(":")
            counts[outcome, kind_of(event)] += int(value)
    samples: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    for i, entries in enumerate(answers[len(span) :]):
        samples[KINDS[i % len(KINDS)]] += [tuple(map(float, entry.split())) for entry in entries]
    kinds = {}
    for kind in KINDS:
        ordered = sorted(samples[kind])
        kinds[kind] = KindFigures(
            events_per_minute=round(counts["processed", kind] / minutes, 1),
            failed=counts["failed_final", kind],
            retried=counts["retried", kind],
            lateness_p50_ms=weighted_percentile(ordered, 0.50),
            lateness_p99_ms=weighted_percentile(ordered, 0.99),
            lateness_max_ms=ordered[-1][0] if ordered else None,
        )
    return RecentFigures(minutes, kinds)


def weighted_percentile(ordered: list[tuple[float, float]], q: float) -> float | None:
    """The smallest sampled value at or below which a share `q` of the weight lies."""
    total = sum(weight for _, weight in ordered)
    seen = 0.0
    for value, weight in ordered:
        seen += weight
        if seen >= q * total - 1e-9:
            return value
    return None


def prometheus_text(connection: Redis) -> str:
    """The running totals in Prometheus' text format, labelled by event type and kind."""
    totals = {k.decode(): int(v) for k, v in connection.hgetall(TOTALS).items()}
    counters = {
        "processed": "events that ran successfully",
        "retried": "failed attempts that were retried",
        "failed": "events that failed their last attempt",
        "early": "events that started before their due time (should stay absent)",
    }
    lines = []
    for metric, help_text in counters.items():
        field = "failed_final" if metric == "failed" else metric
        lines += [
            f"# HELP game_events_{metric}_total {help_text}",
            f"# TYPE game_events_{metric}_total counter",
        ]
        for name, value in sorted(totals.items()):
            prefix, _, event = name.partition(":")
            if prefix == field:
                lines.append(f"game_events_{metric}_total{{{_labels(event)}}} {value}")
    lines += _histogram(totals, "lateness", LATENESS_BUCKETS, "how late events started (first attempts)")
    lines += _histogram(totals, "duration", DURATION_BUCKETS, "worker time per event (its share of a batch)")
    return "\n".join(lines) + "\n"


def _labels(event: str) -> str:
    return f'type="{event}",kind="{kind_of(event)}"'


def _histogram(totals: dict[str, int], name: str, bounds: tuple[float, ...], help_text: str) -> list[str]:
    metric = f"game_events_{name}_seconds"
    lines = [f"# HELP {metric} {help_text}", f"# TYPE {metric} histogram"]
    events = sorted(f.split(":", 1)[1] for f in totals if f.startswith(f"{name}_count:"))
    for event in events:
        labels = _labels(event)
        cumulative = 0
        for bound in bounds:
            cumulative += totals.get(f"{name}_bucket:{event}:{bound}", 0)
            lines.append(f'{metric}_bucket{{{labels},le="{bound}"}} {cumulative}')
        count = totals.get(f"{name}_count:{event}", 0)
        lines.append(f'{metric}_bucket{{{labels},le="+Inf"}} {count}')
        lines.append(f"{metric}_sum{{{labels}}} {totals.get(f'{name}_sum_us:{event}', 0) / 1e6}")
        lines.append(f"{metric}_count{{{labels}}} {count}")
    return lines
