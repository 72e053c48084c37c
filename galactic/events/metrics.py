"""What the workers did: events processed and failed by type, and how late they started.

Workers count in memory (no Redis round trip on the hot path) and flush every couple of seconds
from their liveness thread into a few Redis hashes: running totals for Prometheus, and per-minute
buckets (kept an hour) for the admin's "last minutes" figures. Event types come from the fixed job
ids ("fleet-arrival-12" is a fleet-arrival), so this module knows no game either.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass

from redis import Redis

# Upper bounds (seconds) of the lateness histogram, as Prometheus buckets.
BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)
TOTALS = "gc:metrics:totals"
MINUTE = "gc:metrics:minute:{}"
MINUTES_KEPT = 60

_lock = threading.Lock()
_pending: Counter[str] = Counter()


def event_type(job_id: str) -> str:
    """'fleet-arrival-12' -> 'fleet-arrival'; ids without a numeric tail are their own type."""
    return re.sub(r"-\d+$", "", job_id)


def record(job_id: str, *, ok: bool, lateness: float | None, duration: float) -> None:
    kind = event_type(job_id)
    fields = [f"processed:{kind}" if ok else f"failed:{kind}"]
    if lateness is not None:
        late = max(lateness, 0.0)
        bucket = next((b for b in BUCKETS if late <= b), "inf")
        fields += [f"lateness_bucket:{bucket}", "lateness_count", f"early:{kind}" if lateness < 0 else None]
        with _lock:
            _pending["lateness_sum_us"] += int(late * 1_000_000)
    with _lock:
        _pending.update(field for field in fields if field)
        _pending["duration_sum_us"] += int(duration * 1_000_000)


def flush(connection: Redis) -> None:
    """Add what this process counted since the last flush to the shared totals (one round trip)."""
    with _lock:
        counts = dict(_pending)
        _pending.clear()
    if not counts:
        return
    minute = MINUTE.format(int(time.time() // 60))
    pipe = connection.pipeline(transaction=False)
    for field, amount in counts.items():
        pipe.hincrby(TOTALS, field, amount)
        pipe.hincrby(minute, field, amount)
    pipe.expire(minute, MINUTES_KEPT * 60)
    pipe.execute()


@dataclass(frozen=True)
class RecentFigures:
    minutes: int
    events_per_minute: float
    failed: int
    lateness_p50_ms: float | None
    lateness_p99_ms: float | None


def recent(connection: Redis, minutes: int = 5) -> RecentFigures:
    """Events per minute and lateness percentiles (bucket upper bounds) over the last minutes."""
    now_minute = int(time.time() // 60)
    pipe = connection.pipeline(transaction=False)
    for m in range(now_minute - minutes + 1, now_minute + 1):
        pipe.hgetall(MINUTE.format(m))
    merged: Counter[str] = Counter()
    for bucket in pipe.execute():
        merged.update({k.decode(): int(v) for k, v in bucket.items()})
    processed = sum(v for k, v in merged.items() if k.startswith("processed:"))
    failed = sum(v for k, v in merged.items() if k.startswith("failed:"))
    return RecentFigures(
        minutes=minutes,
        events_per_minute=round(processed / minutes, 1),
        failed=failed,
        lateness_p50_ms=_percentile(merged, 0.50),
        lateness_p99_ms=_percentile(merged, 0.99),
    )


def _percentile(counts: Counter[str], q: float) -> float | None:
    total = counts.get("lateness_count", 0)
    if not total:
        return None
    seen = 0
    for bound in (*BUCKETS, "inf"):
        seen += counts.get(f"lateness_bucket:{bound}", 0)
        if seen >= q * total:
            return float("inf") if bound == "inf" else bound * 1000
    return None


def prometheus_text(connection: Redis) -> str:
    """The running totals in Prometheus' text format."""
    totals = {k.decode(): int(v) for k, v in connection.hgetall(TOTALS).items()}
    lines = ["# TYPE game_events_processed_total counter", "# TYPE game_events_failed_total counter"]
    for field, value in sorted(totals.items()):
        metric, _, kind = field.partition(":")
        if metric in ("processed", "failed", "early"):
            lines.append(f'game_events_{metric}_total{{type="{kind}"}} {value}')
    lines.append("# TYPE game_events_lateness_seconds histogram")
    cumulative = 0
    for bound in BUCKETS:
        cumulative += totals.get(f"lateness_bucket:{bound}", 0)
        lines.append(f'game_events_lateness_seconds_bucket{{le="{bound}"}} {cumulative}')
    lines.append(f'game_events_lateness_seconds_bucket{{le="+Inf"}} {totals.get("lateness_count", 0)}')
    lines.append(f"game_events_lateness_seconds_sum {totals.get('lateness_sum_us', 0) / 1e6}")
    lines.append(f"game_events_lateness_seconds_count {totals.get('lateness_count', 0)}")
    lines.append(f"game_events_duration_seconds_sum {totals.get('duration_sum_us', 0) / 1e6}")
    return "\n".join(lines) + "\n"
