"""Live lag, end to end: a writer appends one scalar point to a run (a local event file, or an
S3 object rewritten longer, as S3 "appends"), and we time how long until a subscribed websocket
client gets the notice for it and until the API serves the point. Used by
tests/reliability/test_live_lag.py (correctness, few samples) and benchmarks/live_lag.py
(figures: p50/p95 against the 2 s local / 5 s S3 targets)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.reliability.stack import HubClient, WsFleet
from tests.reliability.support import frame, scalar_payload, version_payload, wait_for

EVENTS = "events.out.tfevents.1700000000.lag"
TAG = "live/loss"


@dataclass
class LagSample:
    step: int
    notice: float  # seconds from the write to the websocket notice
    api: float  # seconds from the write to the API serving the point


@dataclass
class LagRun:
    kind: str
    samples: list[LagSample] = field(default_factory=list)

    def percentile(self, what: str, q: float) -> float:
        values = sorted(getattr(s, what) for s in self.samples)
        return values[min(len(values) - 1, int(q / 100 * len(values)))] if values else 0.0

    def summary(self, target: float) -> str:
        p95 = self.percentile("api", 95)
        verdict = "PASS" if p95 < target else "FAIL"
        return (
            f"{self.kind:<6} n={len(self.samples):>3}  notice p50 "
            f"{self.percentile('notice', 50):.2f} s p95 {self.percentile('notice', 95):.2f} s  "
            f"API p50 {self.percentile('api', 50):.2f} s p95 {p95:.2f} s  "
            f"(target p95 < {target:.0f} s: {verdict})"
        )


class LocalRun:
    def __init__(self, logdir: Path, run: str) -> None:
        self.path = logdir / run / EVENTS
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(frame(version_payload()))

    def append(self, step: int) -> None:
        with self.path.open("ab") as fh:
            fh.write(frame(scalar_payload(TAG, step, step * 0.25, 1_700_000_000.0 + step)))


class S3Run:
    def __init__(self, s3: Any, bucket: str, prefix: str, run: str) -> None:
        self.s3, self.bucket, self.key = s3, bucket, f"{prefix}/{run}/{EVENTS}"
        self.body = frame(version_payload())
        s3.put_object(Bucket=bucket, Key=self.key, Body=self.body)

    def append(self, step: int) -> None:
        self.body += frame(scalar_payload(TAG, step, step * 0.25, 1_700_000_000.0 + step))
        self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=self.body)


def measure(
    client: HubClient,
    slug: str,
    run: str,
    writer: LocalRun | S3Run,
    *,
    kind: str,
    samples: int,
    pause: float = 1.0,
    timeout: float = 60.0,
    on_sample: Callable[[LagSample], None] | None = None,
) -> LagRun:
    """Append `samples` points one at a time (the first one makes the run known and is not
    timed), each time waiting for the notice and the API; `pause` between samples."""
    fleet = WsFleet(client.ws_url(slug), client.ws_headers(), 1)
    fleet.start()
    ws = fleet.clients[0]
    result = LagRun(kind)
    try:
        for step in range(samples + 1):
            seen = len(ws.notices)
            written = time.monotonic()
            writer.append(step)

            def noticed(step: int = step, seen: int = seen) -> float | None:
                for t, m in ws.notices[seen:]:
                    last = m.get("last_step")
                    if m.get("run") == run and last is not None and last >= step:
                        return t
                return None

            def served(step: int = step) -> float | None:
                points = client.scalars(slug, run, TAG)
                if any(p[0] == step and p[2] == step * 0.25 for p in points):
                    return time.monotonic()
                return None

            api_at = wait_for(served, timeout, f"{kind}: step {step} in the API", 0.05)
            notice_at = wait_for(noticed, timeout, f"{kind}: the notice of step {step}", 0.05)
            if step:
                sample = LagSample(step, notice_at - written, api_at - written)
                result.samples.append(sample)
                if on_sample is not None:
                    on_sample(sample)
            time.sleep(pause)
    finally:
        fleet.stop()
    points = client.scalars(slug, run, TAG)
    assert [p[0] for p in points] == list(range(samples + 1)), "a point lost or doubled"
    return result
