"""What ``maedfer serve`` exposes at ``/metrics``, in Prometheus' text format (version 0.0.4),
written by hand: a few counters and histograms need no client library."""

from __future__ import annotations

import threading
from collections import Counter

# seconds: a small clip on a CPU answers in ~0.1 s, an HD video in tens of seconds
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets, self.counts, self.sum, self.count = buckets, [0] * len(buckets), 0.0, 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        out = [f'{name}_bucket{{le="{b:g}"}} {c}' for b, c in zip(self.buckets, self.counts)]
        return out + [
            f'{name}_bucket{{le="+Inf"}} {self.count}',
            f"{name}_sum {self.sum:.6f}",
            f"{name}_count {self.count}",
        ]


class ServerMetrics:
    """Requests by path and status, /predict latency, queue depth, model calls' batch sizes
    and time, errors by kind; thread-safe (handlers run in worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter = Counter()  # (path, status) -> count
        self.errors: Counter = Counter()  # kind -> count
        self.latency = Histogram(LATENCY_BUCKETS)
        self.model_seconds = Histogram(LATENCY_BUCKETS)
        self.batch_size = Histogram(BATCH_BUCKETS)
        self.queue_depth = 0  # admitted /predict requests not answered yet

    def answered(self, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(path, status)] += 1
            if path == "/predict":
                self.latency.observe(seconds)

    def model_call(self, batch: int, seconds: float) -> None:
        with self._lock:
            self.batch_size.observe(batch)
            self.model_seconds.observe(seconds)

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def text(self) -> str:
        with self._lock:
            lines = [
                "# HELP maedfer_requests_total Requests answered, by path and HTTP status.",
                "# TYPE maedfer_requests_total counter",
                *(
                    f'maedfer_requests_total{{path="{p}",status="{s}"}} {n}'
                    for (p, s), n in sorted(self.requests.items())
                ),
                "# HELP maedfer_request_seconds Time from a /predict request's arrival to its answer.",
                "# TYPE maedfer_request_seconds histogram",
                *self.latency.lines("maedfer_request_seconds"),
                "# HELP maedfer_queue_depth Admitted /predict requests not answered yet.",
                "# TYPE maedfer_queue_depth gauge",
                f"maedfer_queue_depth {self.queue_depth}",
                "# HELP maedfer_batch_size Clips per model call.",
                "# TYPE maedfer_batch_size histogram",
                *self.batch_size.lines("maedfer_batch_size"),
                "# HELP maedfer_model_seconds Time of each model call.",
                "# TYPE maedfer_model_seconds histogram",
                *self.model_seconds.lines("maedfer_model_seconds"),
                "# HELP maedfer_errors_total Requests that failed, by kind.",
                "# TYPE maedfer_errors_total counter",
                *(f'maedfer_errors_total{{kind="{k}"}} {n}' for k, n in sorted(self.errors.items())),
            ]
        return "\n".join(lines) + "\n"
