"""``maedfer push``: a fine-tuned model as a Hugging Face Hub repository.

A repository holds what the ecosystem expects: ``model.safetensors`` (the weights, with
maedfer's spec in its metadata, the file ``maedfer.load`` reads), ``config.json`` (model
name and settings, labels, sampling, input size) and ``README.md``, a model card with the
run's test metrics, dataset and recipe. ``hf://`` names are read back through
:mod:`maedfer.hub.huggingface`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..checkpoint import read_checkpoint
from ..errors import MaedferError, one_line
from ..files import output_dir
from ..inference.export import export_safetensors
from ..inference.loading import load_classifier
from .huggingface import _hub, parse_repo

FILES = ("model.safetensors", "config.json", "README.md")


def _run_metrics(checkpoint: Path) -> dict | None:
    """The test metrics ``maedfer finetune`` wrote beside the checkpoint (eval/metrics.json)."""
    path = checkpoint.parent / "eval" / "metrics.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def model_card(spec, repo_id: str, metrics: dict | None, run: dict) -> str:
    """The README.md of a pushed model."""
    dataset = spec.dataset or "unknown"
    lines = [
        "---",
        "library_name: maedfer",
        "pipeline_tag: video-classification",
        "tags: [facial-expression-recognition, video, mae-dfer, lgi-former]",
        "---",
        "",
        f"# {repo_id.split('/')[-1]}",
        "",
        f"A `{spec.model_name}` classifier of facial expressions in video, fine-tuned on **{dataset}** "
        f"with maedfer (MAE-DFER, ACM MM 2023, re-implemented).",
        "",
        "```python",
        "import maedfer",
        "",
        f'predictor = maedfer.load("hf://{repo_id}")',
        'result = predictor.predict("video.mp4")   # face found, cropped and tracked',
        "print(result.label, result.probabilities)",
        "```",
        "",
        f"```bash\nmaedfer predict video.mp4 --checkpoint hf://{repo_id} --plot\n```",
        "",
        "## Labels",
        "",
        ", ".join(f"{i}: {c}" for i, c in enumerate(spec.classes)),
        "",
        "## Input",
        "",
        f"{spec.num_frames} face-cropped frames of {spec.input_size}x{spec.input_size}, one every "
        f"{spec.sampling_rate} video frames.",
        "",
        "## Test metrics",
        "",
    ]
    if metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [
            f"| {k.upper() if k in ('uar', 'war') else k.replace('_', ' ')} | {metrics[k]:.2f} |"
            for k in ("uar", "war", "macro_f1", "weighted_f1")
            if isinstance(metrics.get(k), (int, float))
        ]
        if "videos" in metrics:
            lines.append(f"| test videos | {metrics['videos']} |")
        per_class = metrics.get("per_class_accuracy") or {}
        if per_class:
            lines += ["", "Per-class accuracy: " + ", ".join(f"{c} {v:.1f}" for c, v in per_class.items())]
    else:
        lines.append("No test evaluation was found beside the checkpoint (eval/metrics.json of its run).")
    recipe = {
        k: run[k]
        for k in (
            "preset",
            "init",
            "epochs",
            "batch_size",
            "lr",
            "min_lr",
            "weight_decay",
            "warmup_epochs",
            "layer_decay",
            "drop_path",
            "mixup",
            "cutmix",
            "label_smoothing",
            "train",
            "test",
            "seed",
        )
        if run.get(k) is not None
    }
    lines += ["", "## Recipe", ""]
    lines += [f"- {k}: `{v}`" for k, v in recipe.items()] or ["Not recorded in the checkpoint."]
    return "\n".join(lines) + "\n"


def write_repo_folder(
    checkpoint: str | os.PathLike, folder: str | os.PathLike, dataset: str | None = None, repo_id: str = "OWNER/NAME"
) -> list[Path]:
    """The files of a Hub repository for ``checkpoint`` in ``folder``: exactly what
    :func:`push` uploads."""
    checkpoint = Path(checkpoint)
    model, spec = load_classifier(checkpoint, dataset)
    folder = output_dir(folder, "Hub folder")
    run = read_checkpoint(checkpoint).get("config") if checkpoint.suffix != ".safetensors" else None
    run = run if isinstance(run, dict) else {}
    export_safetensors(model, spec, folder / "model.safetensors")
    config = {
        "library_name": "maedfer",
        "model_name": spec.model_name,
        "model_config": spec.model_config,
        "labels": list(spec.classes),
        "id2label": dict(enumerate(spec.classes)),
        "num_frames": spec.num_frames,
        "sampling_rate": spec.sampling_rate,
        "input_size": spec.input_size,
        "dataset": spec.dataset,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    (folder / "README.md").write_text(model_card(spec, repo_id, _run_metrics(checkpoint), run))
    return [folder / name for name in FILES]


def push(
    checkpoint: str | os.PathLike, repo_id: str, dataset: str | None = None, private: bool = False, api=None
) -> str:
    """Upload ``checkpoint`` as the Hub repository ``repo_id`` (created if needed); its URL."""
    repo_id, _ = parse_repo(repo_id)
    hub = _hub()
    api = api or hub.HfApi()
    with tempfile.TemporaryDirectory(prefix="maedfer-push-") as folder:
        write_repo_folder(checkpoint, folder, dataset, repo_id)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="maedfer push")
        except Exception as e:  # the client's own error types: no token, no network, refused
            raise MaedferError(
                f"could not upload to {repo_id}: {one_line(e)[:300]} (log in with 'hf auth login' or set HF_TOKEN)"
            ) from None
    return f"https://huggingface.co/{repo_id}"
