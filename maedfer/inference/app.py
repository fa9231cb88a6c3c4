"""``maedfer app``: a web page for a person's own video (Gradio, an optional extra:
``pip install 'maedfer[app]'``). Upload a video or record one with the webcam; the page
shows the emotion, the probability timeline and the annotated video. It runs the same
:class:`~maedfer.inference.Predictor` as ``maedfer predict``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import MaedferError, one_line
from .predictor import Predictor


def _gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a research tool
    try:
        import gradio
    except ImportError:
        raise MaedferError("maedfer app needs Gradio: pip install 'maedfer[app]'") from None
    return gradio


def analyse(predictor: Predictor, video: str | None, folder: Path) -> tuple[dict, str, str, dict]:
    """What the page shows for ``video``: label probabilities, timeline PNG, annotated MP4,
    and a summary (coverage, time per stage, warnings)."""
    from .outputs import annotate_video, plot_timeline

    if not video:
        raise MaedferError("upload a video or record one first")
    result = predictor.predict(video)
    stem = Path(video).stem
    timeline = plot_timeline(result, folder / f"{stem}_timeline.png")
    annotated = annotate_video(video, result, folder / f"{stem}_annotated.mp4")
    summary = {
        "label": result.label,
        "coverage": f"{100 * result.coverage:.0f} % of the video has a tracked face",
        "faces": len(result.faces),
        "seconds": round(result.num_frames / result.fps, 2),
        "windows": len(result.faces[0].windows),
        "warnings": result.warnings,
        "timings": {k: result.timings[k] for k in ("decode", "detect", "crop", "model")},
    }
    return result.probabilities, str(timeline), str(annotated), summary


def build_app(predictor: Predictor):
    """The Gradio page (a ``gradio.Blocks``); its one endpoint is ``/predict``."""
    gr = _gradio()
    folder = Path(tempfile.mkdtemp(prefix="maedfer-app-"))

    def run(video):
        try:
            return analyse(predictor, video, folder)
        except (ValueError, OSError) as e:  # a bad upload: one line on the page, not a traceback
            raise gr.Error(one_line(e)) from None

    spec = predictor.spec
    with gr.Blocks(title="maedfer: emotion in your video") as app:
        gr.Markdown(
            f"## Emotion in your video\n`{spec.model_name}`"
            f"{' fine-tuned on ' + spec.dataset if spec.dataset else ''}: "
            f"{', '.join(predictor.classes)}. The face is found, cropped and followed; "
            f"{spec.num_frames} frames every {spec.sampling_rate} make one window."
        )
        with gr.Row():
            with gr.Column():
                video = gr.Video(sources=["upload", "webcam"], label="your video")
                button = gr.Button("Recognise", variant="primary")
            with gr.Column():
                label = gr.Label(num_top_classes=3, label="emotion")
                summary = gr.JSON(label="what was analysed")
        timeline = gr.Image(type="filepath", label="probabilities over time")
        annotated = gr.Video(label="annotated video")
        button.click(run, inputs=video, outputs=[label, timeline, annotated, summary], api_name="predict")
    return app


def launch(
    predictor: Predictor, host: str = "127.0.0.1", port: int = 7860, block: bool = True, token: str | None = None
):
    """Serve the page; with ``block=False`` return the running app (tests). With a ``token``
    the page asks for a login: user ``maedfer``, the token as password (Gradio's own login:
    its API takes no bearer token)."""
    app = build_app(predictor)
    app.queue(default_concurrency_limit=1)  # one video at a time through the model
    app.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        quiet=not block,
        show_error=True,
        auth=[("maedfer", token)] if token else None,
    )
    return app
