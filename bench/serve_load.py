"""Load on ``maedfer serve``: one request at a time through the model (``--max-batch 1``)
against batched requests (``--max-batch 16``), side by side in one run, with clients on
loopback only, a bounded count and duration.

For each mode a server process of its own (lgi_former_tiny, untrained weights: the cost does
not depend on them, fp32) answers ``--clients`` clients that post videos back to back for
``--seconds`` (each its own small video, and every ``--hd-every``-th request an HD one). Then
an overload phase: ``--overload`` clients at once against a line of ``--max-queue``, which
must answer every request above the bound with 503 within a second. Reported per mode:
requests/s, p50/p95/p99 latency, answers by status, the model's batch sizes (from /metrics),
the server's RSS over time (every second), and uploads left in its temporary folder.

    python bench/serve_load.py --out runs/serve-load.json                       # 60 s per mode
    python bench/serve_load.py --modes batched --seconds 600 --out runs/rss.json  # the 10-minute RSS run

Writes every number to --out and prints the table with the ratio of the two throughputs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np

import maedfer
from maedfer.checkpoint import save_checkpoint
from maedfer.precision import cpu_name

sys.path.insert(0, str(Path(__file__).parent))
from predict import face_video  # noqa: E402  (bench/predict.py: a real face moving over a frame)

TOKEN = "serve-load-bench-token-0123456789"
MODES = {"one at a time": ["--max-batch", "1"], "batched": ["--max-batch", "16", "--max-delay-ms", "10"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(base: str, name: str, data: bytes, crop: str, timeout: float = 300, answer: dict | None = None) -> tuple:
    """(status, seconds) of one /predict request; ``answer`` gets the JSON of a 200."""
    boundary = "maedferloadboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Bearer {TOKEN}"}
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(base + f"/predict?stride=8&crop={crop}", data=body, headers=headers), timeout=timeout
        ) as r:
            body = r.read()
            status = r.status
        if answer is not None:
            answer.update(json.loads(body))
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError:
        status = 0  # no answer at all
    return status, time.perf_counter() - t0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def batch_sizes(base: str) -> dict:
    request = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    text = urllib.request.urlopen(request, timeout=10).read().decode()
    m = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    count = int(m["maedfer_batch_size_count"])
    return {"forward_passes": count, "mean_clips": float(m["maedfer_batch_size_sum"]) / max(count, 1)}


def run_mode(name: str, checkpoint: Path, videos: dict, args, tmp: Path) -> dict:
    port, uploads = free_port(), tmp / f"uploads-{name.replace(' ', '-')}"
    uploads.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "maedfer", "serve", "--checkpoint", str(checkpoint), "--port", str(port),
         "--precision", "fp32", "--max-queue", str(args.max_queue), *MODES[name]],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, MAEDFER_TOKEN=TOKEN, TMPDIR=str(uploads)),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                urllib.request.urlopen(base + "/health/ready", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"the {name} server exited") from None
                time.sleep(0.2)
        # one request alone first: where its time goes (decode, detect, crop, model)
        alone = []
        for _ in range(5):
            answer: dict = {}
            post(base, "small.mp4", videos["small"], args.crop, answer=answer)
            alone.append(answer["timings"])
        stages = {k: float(np.median([t[k] for t in alone[1:]])) for k in ("decode", "detect", "crop", "model")}
        rss, answers, stop = [], [], threading.Event()

        def sample() -> None:
            t0 = time.perf_counter()
            while not stop.is_set():
                rss.append((round(time.perf_counter() - t0, 1), rss_mb(server.pid)))
                stop.wait(1.0)

        def client(i: int) -> None:
            k, end = 0, time.perf_counter() + args.seconds
            while time.perf_counter() < end:
                kind = "hd" if args.hd_every and (k + i) % args.hd_every == args.hd_every - 1 else "small"
                answers.append((kind, *post(base, f"{kind}.mp4", videos[kind], args.crop)))
                k += 1

        threading.Thread(target=sample, daemon=True).start()
        t0 = time.perf_counter()
        clients = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        seconds = time.perf_counter() - t0
        stop.set()
        # overload: more clients at once than the line holds; small videos
        over: list[tuple[int, float]] = []
        burst = [
            threading.Thread(target=lambda: over.append(post(base, "small.mp4", videos["small"], args.crop)))
            for _ in range(args.overload)
        ]
        for b in burst:
            b.start()
        for b in burst:
            b.join()
        passes = batch_sizes(base)
    finally:
        server.terminate()
        server.wait(timeout=120)
    latencies = np.array([t for _, status, t in answers if status == 200])
    rejected = [t for status, t in over if status == 503]
    return {
        "alone_seconds_by_stage": stages,
        "requests": len(answers),
        "seconds": seconds,
        "requests_per_s": len(answers) / seconds,
        "small_per_s": sum(kind == "small" for kind, _, _ in answers) / seconds,
        "latency_s": {f"p{q}": float(np.percentile(latencies, q)) for q in (50, 95, 99)} if len(latencies) else {},
        "statuses": dict(Counter(str(status) for _, status, _ in answers)),
        "overload_statuses": dict(Counter(str(status) for status, _ in over)),
        "overload_503_slowest_s": max(rejected, default=None),
        **passes,
        "rss_mb": rss,
        "uploads_left": sorted(p.name for p in uploads.iterdir()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/serve-load.json")
    ap.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the clients send, per mode")
    ap.add_argument("--hd-every", type=int, default=0, help="every n-th request of a client is the HD video (0: none)")
    ap.add_argument("--max-queue", type=int, default=32, help="the servers' line (above --clients: no 503 below it)")
    ap.add_argument("--overload", type=int, default=48, help="clients at once in the overload phase")
    ap.add_argument(
        "--crop",
        choices=("face", "full"),
        default="face",
        help="face: the server finds and follows the face (most of a request's work on a CPU); full: the "
        "frames are taken as face crops, so the model's share of the work is larger",
    )
    args = ap.parse_args()
    result = {"settings": vars(args), "cpu": cpu_name(), "cores": os.cpu_count(), "modes": {}}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        checkpoint = save_checkpoint(
            maedfer.create_model("lgi_former_tiny"), tmp / "tiny.pth", config={"dataset": "dfew", "sampling_rate": 2}
        )
        videos = {
            "small": face_video(tmp / "small.mp4", seconds=2, height=240).read_bytes(),
            "hd": face_video(tmp / "hd.mp4", seconds=3, height=720).read_bytes(),
        }
        result["video_bytes"] = {k: len(v) for k, v in videos.items()}
        for name in args.modes:
            result["modes"][name] = r = run_mode(name, checkpoint, videos, args, tmp)
            rss = [m for _, m in r["rss_mb"]]
            print(
                f"{name}: {r['requests_per_s']:.2f} requests/s, p50 {r['latency_s'].get('p50', float('nan')):.2f} s, "
                f"statuses {r['statuses']}, overload {r['overload_statuses']}, "
                f"mean batch {r['mean_clips']:.1f} clips, RSS {min(rss):.0f}-{max(rss):.0f} MB",
                flush=True,
            )
    lines = [
        f"serve load, {args.clients} clients for {args.seconds:g} s per mode "
        f"({result['cpu']}, {result['cores']} cores); small: 2 s 426x240"
        + (f", HD: 3 s 1280x720 (one request in {args.hd_every})" if args.hd_every else "")
        + f"; crop={args.crop}; lgi_former_tiny fp32",
        "",
        "| mode | requests/s | p50 / p95 / p99 s | answers | overload answers (slowest 503) | mean clips per pass "
        "| RSS MB (first → last, max) | uploads left |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["modes"].items():
        lat = r["latency_s"]
        rss = [m for _, m in r["rss_mb"]]
        slow = r["overload_503_slowest_s"]
        lines.append(
            f"| {name} | {r['requests_per_s']:.2f} | {lat.get('p50', 0):.2f} / {lat.get('p95', 0):.2f} / "
            f"{lat.get('p99', 0):.2f} | {r['statuses']} | {r['overload_statuses']} "
            f"({'–' if slow is None else f'{slow:.2f} s'}) | {r['mean_clips']:.1f} | {rss[0]:.0f} → {rss[-1]:.0f}, "
            f"{max(rss):.0f} | {len(r['uploads_left'])} |"
        )
    for name, r in result["modes"].items():
        st = r["alone_seconds_by_stage"]
        lines.append(
            f"\n{name}, one small request alone (median of 4): "
            + ", ".join(f"{k} {v:.3f} s" for k, v in st.items())
            + f"; the model is {100 * st['model'] / sum(st.values()):.0f} % of it"
        )
    if len(result["modes"]) == 2:
        one, batched = (result["modes"][m]["requests_per_s"] for m in MODES)
        result["batched_over_one"] = batched / one
        lines += ["", f"batched ÷ one at a time: {batched / one:.2f}x requests/s"]
    text = "\n".join(lines)
    result["table"] = text
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(text)


if __name__ == "__main__":
    main()
