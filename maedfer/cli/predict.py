"""``maedfer predict | export | serve``: a fine-tuned model on people's own videos."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..data.catalog import LABELLED
from ..data.readers import IMAGE_SUFFIXES
from ..errors import MaedferError, one_line
from ..files import output_dir, refuse_existing, same_file
from ..precision import PRECISIONS


def _model_args(p: argparse.ArgumentParser, positional: bool = False) -> None:
    if positional:
        p.add_argument(
            "checkpoint",
            help="a fine-tuned checkpoint: maedfer's, an official MAE-DFER one, or an exported .safetensors",
        )
    else:
        p.add_argument(
            "--checkpoint",
            required=True,
            help="a fine-tuned checkpoint: maedfer's, an official MAE-DFER one, or an exported .safetensors",
        )
    p.add_argument(
        "--dataset", choices=LABELLED, help="label names for checkpoints that do not carry them (the official ones)"
    )


def _predictor_args(p: argparse.ArgumentParser) -> None:
    _model_args(p)
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    p.add_argument(
        "--precision",
        choices=("auto", *PRECISIONS),
        default="auto",
        help="auto: the faster of fp32 and bf16, timed once per machine and model and cached; fp16 needs a GPU",
    )
    p.add_argument("--batch-size", type=int, default=8, help="windows per model call")
    p.add_argument(
        "--margin",
        type=float,
        default=None,
        help="face crop: the face's side grown by this fraction (default: as the checkpoint's training "
        "faces were cropped, else 0.3)",
    )
    p.add_argument(
        "--detector",
        default=None,
        metavar="landmarks|haar|yunet|MODULE:CALLABLE",
        help="face detector: landmarks (default: BlazeFace starts a track and the face's landmarks follow "
        "it, every frame; haar for a checkpoint whose faces were aligned on eyes), haar (OpenCV's cascade), "
        "yunet (OpenCV's CNN, 227 KB downloaded once; pip install 'maedfer[hub]'), or your own callable "
        "frame -> list of Box",
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="emotion over time in your own videos (faces found, cropped, tracked)")
    p.add_argument("videos", nargs="*", metavar="VIDEO", help="video files, frame folders or images")
    p.add_argument(
        "--live",
        metavar="SOURCE",
        help="a live source instead of files: a camera index (0), an "
        "RTSP/HTTP stream URL, or a video file played at its own rate",
    )
    p.add_argument("--show", action="store_true", help="--live: show the stream with the current emotion in a window")
    p.add_argument("--seconds", type=float, help="--live: stop after this many seconds (default: at the end or Ctrl-C)")
    _predictor_args(p)
    p.add_argument(
        "--stride",
        type=int,
        default=8,
        help="step between windows, in model frames (each = sampling-rate video frames); 8 = half a window",
    )
    p.add_argument(
        "--crop",
        choices=("face", "full"),
        default="face",
        help="face: detect and follow the face; full: the frames are already face crops",
    )
    p.add_argument("--all-faces", action="store_true", help="predict every face that stays in view, with ids")
    p.add_argument(
        "--detect-every",
        type=int,
        default=4,
        metavar="N",
        help="run the face detector on every N-th sampled frame while faces stay put (1-8; 1: all)",
    )
    p.add_argument("--out", default="predictions", help="folder for <name>.json and <name>.csv")
    p.add_argument("--plot", action="store_true", help="also write <name>_timeline.png")
    p.add_argument(
        "--annotate",
        action="store_true",
        help="also write <name>_annotated.mp4 with boxes and labels (--live: live_annotated.mp4 in --out)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run in --out")
    p.set_defaults(run=run_predict)

    e = sub.add_parser("export", help="a fine-tuned classifier as ONNX or safetensors")
    _model_args(e, positional=True)
    e.add_argument("--format", choices=("onnx", "safetensors"), required=True)
    e.add_argument("--out", help="output file (default: the checkpoint's path with the format's suffix)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    e.set_defaults(run=run_export)

    s = sub.add_parser("serve", help="an HTTP endpoint: POST a video to /predict, get predict's JSON")
    _predictor_args(s)
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    s.add_argument("--port", type=int, default=8000, help="port to listen on (1-65535)")
    s.add_argument("--max-mb", type=float, default=100.0, help="largest accepted upload, in MB")
    s.add_argument(
        "--max-queue",
        type=int,
        default=8,
        help="most /predict requests in the server at once (waiting or running); past it, 503 with Retry-After",
    )
    s.add_argument(
        "--grace", type=float, default=30.0, help="seconds SIGTERM waits for requests in flight before exiting"
    )
    s.add_argument(
        "--max-batch",
        type=int,
        default=16,
        help="clips per forward pass shared by concurrent requests (1: one request at a time through the model)",
    )
    s.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds a request may take after its upload (waiting in line included); past it, 504",
    )
    s.add_argument(
        "--max-delay-ms",
        type=float,
        default=10.0,
        help="how long a request's clips wait for others' to share a forward pass",
    )
    _access_args(s)
    s.set_defaults(run=run_serve)

    a = sub.add_parser(
        "app",
        help="a web page: upload a video or use the webcam, see the emotion over time (pip install 'maedfer[app]')",
    )
    _predictor_args(a)
    a.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    a.add_argument("--port", type=int, default=7860, help="port to listen on (1-65535)")
    _access_args(a)
    a.set_defaults(run=run_app)


def _access_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--token-file",
        help="file whose first line is the access token (or set MAEDFER_TOKEN); required off loopback",
    )
    p.add_argument("--no-auth", action="store_true", help="serve without a token even where the network can reach it")


def _load(args: argparse.Namespace):
    from ..inference import load

    return load(
        args.checkpoint,
        dataset=args.dataset,
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
        margin=args.margin,
        detector=args.detector,
    )


def _unique_stems(paths: list[str]) -> list[str]:
    """Output names: the file name without suffix, made unique (``x``, ``x-2``, ...) when
    inputs share one, also against a name that another input already has."""
    stems: list[str] = []
    taken: set[str] = set()
    for path in paths:
        stem = Path(path.rstrip("/")).stem or "video"
        name, n = stem, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}"
        taken.add(name)
        stems.append(name)
    return stems


def _outputs(args: argparse.Namespace, out: Path) -> list[dict[str, Path]]:
    """The files each input will get, checked before any work: nothing that exists is
    replaced without --overwrite, and no output may be one of the inputs."""
    images = [p for p in out.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    if len(images) >= 2 and not any(out.glob("*.json")):
        raise MaedferError(
            f"{out}: --out looks like a frame folder ({len(images)} images); writing there would "
            "change that clip. Give an empty or new folder"
        )
    plans = []
    for stem in _unique_stems(args.videos):
        plan = {"json": out / f"{stem}.json", "csv": out / f"{stem}.csv"}
        if args.plot:
            plan["timeline"] = out / f"{stem}_timeline.png"
        if args.annotate:
            plan["annotated"] = out / f"{stem}_annotated.mp4"
        for path in plan.values():
            for video in args.videos:
                if same_file(path, video):
                    raise MaedferError(f"{path}: this output would replace the input {video}; choose another --out")
            refuse_existing(path, args.overwrite, "output of an earlier run")
        plans.append(plan)
    return plans


def run_predict(args: argparse.Namespace) -> int:
    from ..faces.find import check_detect_every
    from ..inference.outputs import annotate_video, plot_timeline
    from ..inference.predictor import check_stride

    if bool(args.live) == bool(args.videos):
        raise MaedferError(
            "give video files, or --live SOURCE, not both"
            if args.live
            else "give at least one video file, frame folder or image, or --live SOURCE"
        )
    if not args.live and (args.show or args.seconds is not None):
        raise MaedferError("--show and --seconds are for --live")
    if args.live:
        return run_live_cli(args)
    check_stride(args.stride)  # before the model loads
    check_detect_every(args.detect_every)
    out = output_dir(args.out, "--out folder")
    plans = _outputs(args, out)
    predictor = _load(args)
    print(
        f"{predictor.spec.model_name}: {len(predictor.classes)} classes ({', '.join(predictor.classes)}), "
        f"{predictor.spec.num_frames} frames every {predictor.spec.sampling_rate}, "
        f"{predictor.device} {predictor.precision}"
    )
    failed = 0
    for video, plan in zip(args.videos, plans):
        # One bad video (unreadable, no face, an output that cannot be written) is reported
        # in one line and the others still run.
        try:
            result = predictor.predict(
                video,
                stride=args.stride,
                crop=args.crop,
                all_faces=args.all_faces,
                progress=True,
                detect_every=args.detect_every,
            )
            written = [result.save_json(plan["json"]), result.save_csv(plan["csv"])]
            if "timeline" in plan:
                written.append(plot_timeline(result, plan["timeline"]))
            if "annotated" in plan:
                written.append(annotate_video(video, result, plan["annotated"], progress=True))
        except (ValueError, OSError) as e:
            print(f"maedfer: error: {one_line(e)}", file=sys.stderr)
            failed += 1
            continue
        _print_table(result)
        print(f"  -> {', '.join(str(p) for p in written)}")
    return 2 if failed else 0


def run_live_cli(args: argparse.Namespace) -> int:
    """``predict --live``: a line per label; a window with --show; a recording with --annotate."""
    from ..faces.find import check_detect_every
    from ..inference.live import open_capture
    from ..inference.predictor import check_stride

    check_stride(args.stride)
    check_detect_every(args.detect_every)
    if args.seconds is not None and not args.seconds > 0:
        raise MaedferError(f"--seconds must be positive, got {args.seconds}")
    recording = None
    if args.annotate:
        recording = refuse_existing(
            output_dir(args.out, "--out folder") / "live_annotated.mp4", args.overwrite, "output of an earlier run"
        )
    display = _window() if args.show else None
    source = open_capture(args.live)  # before the model loads: a bad source fails at once
    try:
        return _live(args, source, display, recording)
    finally:
        source.capture.release()  # also when the model fails to load (released twice is harmless)


def _live(args: argparse.Namespace, source, display, recording) -> int:
    from ..inference.live import run_live
    from ..inference.outputs import draw_face

    predictor = _load(args)
    print(
        f"{predictor.spec.model_name}: {', '.join(predictor.classes)}; {predictor.spec.num_frames} frames every "
        f"{predictor.spec.sampling_rate}, a label every {args.stride} model frames; Ctrl-C stops"
    )
    writer, fps = None, source.fps or 25.0

    def on_label(label) -> None:
        top = sorted(label.probabilities.items(), key=lambda kv: -kv[1])[:3]
        print(
            f"{label.time:8.2f} s  {label.label:<10} "
            + "  ".join(f"{c} {p:.2f}" for c, p in top)
            + f"   latency {1000 * label.latency:.0f} ms",
            flush=True,
        )

    def on_frame(frame, box, label) -> None:
        nonlocal writer
        if box is not None and label is not None:
            frame = draw_face(
                frame.copy(),
                box,
                f"{label.label} {label.probabilities[label.label]:.2f}",
                predictor.classes.index(label.label),
            )
        if display is not None:
            display(frame)
        if recording is not None:
            from ..data.writers import VideoWriter

            h, w = frame.shape[0] - frame.shape[0] % 2, frame.shape[1] - frame.shape[1] % 2
            if writer is None:  # the analysed frames: one every sampling_rate source frames
                writer = VideoWriter(recording, w, h, fps / predictor.spec.sampling_rate)
            writer.write(np.ascontiguousarray(frame[:h, :w]))

    try:
        stats = run_live(
            predictor,
            source,
            stride=args.stride,
            detect_every=args.detect_every,
            seconds=args.seconds,
            on_label=on_label,
            on_frame=on_frame if display or recording else None,
        )
    finally:
        if writer is not None:
            writer.close()
    print(stats.summary())
    if recording is not None and writer is not None:
        print(f"  -> {recording}")
    return 0


def _window():
    """A window that shows frames (matplotlib: OpenCV's wheel here has no GUI)."""
    import matplotlib

    try:
        matplotlib.use("TkAgg", force=True)
        import matplotlib.pyplot as plt

        fig = plt.figure("maedfer live")
    except Exception as e:  # no display, no Tk
        raise MaedferError(
            f"--show needs a screen ({str(e).splitlines()[0][:100]}); use --annotate to record the stream instead"
        ) from None
    state = {}

    def show(frame) -> None:
        if "image" not in state:
            state["image"] = plt.imshow(frame)
            plt.axis("off")
        else:
            state["image"].set_data(frame)
        fig.canvas.draw_idle()
        plt.pause(0.001)

    return show


def _print_table(result) -> None:
    seconds = result.num_frames / result.fps
    t = result.timings
    print(
        f"{result.source}: {result.num_frames} frames, {seconds:.1f} s; decode {t['decode']:.2f} s, "
        f"detect {t['detect']:.2f} s ({result.looked} of {result.sampled} sampled frames), crop {t['crop']:.2f} s, "
        f"model {t['model']:.2f} s; a face in {100 * result.coverage:.0f} % of the video"
    )
    for warning in result.warnings:
        print(f"  warning: {warning}")
    short = [c[:8] for c in result.classes]
    for face in result.faces:
        seen = (
            ""
            if face.confidence is None
            else (
                f"  [in view {100 * face.coverage:.0f} %: "
                + ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in face.segments)
                + f"; detector score {face.confidence:.2f}]"
            )
        )
        print(
            f"  face {face.id}: {face.label}  "
            + "  ".join(f"{c} {face.probabilities[c]:.2f}" for c in result.classes)
            + seen
        )
        print("    " + f"{'from':>7}{'to':>7}  {'label':<10}" + "".join(f"{s:>9}" for s in short))
        for w in face.windows:
            print(
                "    "
                + f"{w.start_time:7.2f}{w.end_time:7.2f}  {result.classes[w.top]:<10}"
                + "".join(f"{p:9.3f}" for p in w.probabilities)
            )


def run_export(args: argparse.Namespace) -> int:
    from ..inference.export import export

    path = export(args.checkpoint, args.format, args.out, args.dataset, overwrite=args.overwrite)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _check_address(host: str, port: int) -> None:
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as e:
        raise MaedferError(f"--host {host} --port {port}: cannot listen there ({e.strerror or e})") from None


def run_serve(args: argparse.Namespace) -> int:
    from ..inference.access import required_token
    from ..inference.server import check_limits, serve

    if not 0 < args.port < 65536:
        raise MaedferError(f"--port must be from 1 to 65535, got {args.port}")
    if not args.max_mb > 0:
        raise MaedferError(f"--max-mb must be positive, got {args.max_mb}")
    max_delay = args.max_delay_ms / 1000
    check_limits(args.max_queue, args.max_batch, max_delay, args.timeout, args.grace)  # before the address is tried
    _check_address(args.host, args.port)
    token = required_token(args.host, args.token_file, args.no_auth)
    serve(
        lambda: _load(args),  # loaded while the server already answers /health/ready (not ready)
        host=args.host,
        port=args.port,
        max_bytes=int(args.max_mb * (1 << 20)),
        token=token,
        max_queue=args.max_queue,
        grace=args.grace,
        max_batch=args.max_batch,
        max_delay=max_delay,
        timeout=args.timeout,
    )
    return 0


def run_app(args: argparse.Namespace) -> int:
    from ..inference.access import required_token
    from ..inference.app import _gradio, launch

    if not 0 < args.port < 65536:
        raise MaedferError(f"--port must be from 1 to 65535, got {args.port}")
    _gradio()  # installed? before the model loads
    _check_address(args.host, args.port)
    token = required_token(args.host, args.token_file, args.no_auth)
    predictor = _load(args)
    login = "; log in as maedfer with the token as password" if token else ""
    print(f"open http://{args.host}:{args.port} in a browser{login}; Ctrl-C stops")
    launch(predictor, args.host, args.port, token=token)
    return 0
