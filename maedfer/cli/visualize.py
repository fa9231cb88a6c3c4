"""``maedfer visualize reconstruct | embed``: the paper's pictures for your own models."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.catalog import LABELLED
from ..errors import MaedferError
from ..files import output_dir, refuse_existing, same_file


def add_parser(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("visualize", help="pictures: MAE reconstructions, t-SNE/PCA of clip features")
    vs = v.add_subparsers(dest="picture", required=True, metavar="PICTURE")

    r = vs.add_parser(
        "reconstruct", help="masked input, reconstructed appearance and motion of a pre-trained MAE-DFER on one clip"
    )
    r.add_argument("checkpoint", help="a pre-training checkpoint (maedfer pretrain, or the official one)")
    r.add_argument("video", help="a video file, frame folder or image")
    r.add_argument(
        "--crop",
        choices=("face", "full"),
        default="face",
        help="face: detect and crop the face; full: the frames are already face crops",
    )
    r.add_argument("--start", type=float, default=0.0, help="where the clip starts, in seconds")
    r.add_argument("--seed", type=int, default=0, help="seed of the random mask")
    r.add_argument("--out", default="reconstruction.png", help="PNG to write")
    r.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    r.set_defaults(run=run_reconstruct)

    e = vs.add_parser("embed", help="clip features of a fine-tuned model in 2-D, coloured by label")
    e.add_argument("checkpoint", help="a fine-tuned checkpoint (or an exported .safetensors)")
    e.add_argument("annotations", help="annotation file of labelled clips (e.g. a test split)")
    e.add_argument("--dataset", choices=LABELLED, help="label names for checkpoints that do not carry them")
    e.add_argument("--method", choices=("tsne", "pca"), default="tsne")
    e.add_argument("--root", help="folder the annotation paths are relative to (as in the configs)")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--workers", type=int, default=2, help="data loading processes")
    e.add_argument("--out", default="embedding.png", help="PNG to write (coordinates go to the same name .csv)")
    e.add_argument("--overwrite", action="store_true", help="replace existing --out files")
    e.set_defaults(run=run_embed)


def _refuse_outputs(args: argparse.Namespace, picture: Path, *others: Path) -> None:
    """The PNG ``picture`` and the ``others`` written beside it: none may replace an input or,
    without --overwrite, an existing file."""
    if picture.suffix.lower() != ".png":
        raise MaedferError(f"--out {picture}: the picture is a PNG; give a .png file name")
    inputs = (args.checkpoint, getattr(args, "video", None) or args.annotations)
    for path in (picture, *others):
        if any(same_file(path, i) for i in inputs):
            raise MaedferError(f"{path}: this output would replace an input; choose another --out")
        refuse_existing(path, args.overwrite, "output")
        output_dir(path.parent)


def run_reconstruct(args: argparse.Namespace) -> int:
    import torch

    from ..data.transforms import eval_transform
    from ..faces.align import FaceCrop
    from ..inference.clips import sample_faces
    from ..inference.loading import load_pretraining_model
    from ..visualize.reconstruction import save_reconstruction_figure

    if not args.start >= 0:
        raise MaedferError(f"--start must be a time in seconds >= 0, got {args.start}")
    _refuse_outputs(args, Path(args.out))
    model, stride = load_pretraining_model(args.checkpoint)
    _, t, size, _ = model.input_shape
    sampled = sample_faces(args.video, stride, FaceCrop(size=size), crop=args.crop, progress=True)
    crops = sampled.crops[0]
    start = sum(1 for i in sampled.frame_ids[: len(crops)] if i < args.start * sampled.fps)
    if start >= len(crops):
        raise ValueError(
            f"{args.video}: --start {args.start} s is past the end of the face's frames "
            f"({sampled.frame_ids[len(crops) - 1] / sampled.fps:.2f} s)"
        )
    index = [min(start + i, len(crops) - 1) for i in range(t)]
    clip = eval_transform(size)(crops[index])
    mask = model.masking(generator=torch.Generator().manual_seed(args.seed))
    path = save_reconstruction_figure(
        model,
        clip,
        mask,
        args.out,
        title=f"{Path(args.video).name}, frames from {sampled.frame_ids[start]}, every {stride}",
    )
    print(f"wrote {path}")
    return 0


def run_embed(args: argparse.Namespace) -> int:
    from ..data.datasets import ClipDataset
    from ..data.transforms import eval_transform
    from ..inference.loading import load_classifier
    from ..visualize.embedding import clip_features, project, save_embedding_figure

    if args.batch_size < 1 or args.workers < 0:
        raise MaedferError(
            f"--batch-size must be at least 1 and --workers at least 0, got {args.batch_size} and {args.workers}"
        )
    _refuse_outputs(args, Path(args.out), Path(args.out).with_suffix(".csv"))
    model, spec = load_classifier(args.checkpoint, args.dataset)
    dataset = ClipDataset(
        args.annotations,
        eval_transform(spec.input_size),
        mode="test",
        num_frames=spec.num_frames,
        sampling_rate=spec.sampling_rate,
        num_clips=1,
        num_crops=1,
        num_classes=len(spec.classes),
        root=args.root,
    )
    features, labels = clip_features(model, dataset, args.batch_size, args.workers, progress=True)
    points = project(features, args.method)
    path = save_embedding_figure(
        points,
        labels,
        spec.classes,
        args.out,
        title=f"{spec.model_name} features, {args.method.upper()}, {len(labels)} clips",
    )
    print(f"wrote {path} and {path.with_suffix('.csv')}")
    return 0
