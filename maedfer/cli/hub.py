"""``maedfer download NAME`` and ``maedfer push CKPT REPO_ID``: models from and to elsewhere."""

from __future__ import annotations

import argparse

from ..data.catalog import LABELLED


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(
        "download", help="fetch an officially released model into the cache (see 'maedfer models --released')"
    )
    d.add_argument("names", nargs="+", metavar="NAME", help="released model names, e.g. dfew-fold1 ferv39k")
    d.set_defaults(run=run_download)
    p = sub.add_parser("push", help="upload a fine-tuned checkpoint to the Hugging Face Hub")
    p.add_argument("checkpoint", help="a fine-tuned checkpoint (any that 'maedfer predict' takes)")
    p.add_argument("repo_id", metavar="REPO_ID", help="OWNER/NAME on the Hub (created if needed)")
    p.add_argument("--dataset", choices=LABELLED, help="label names for checkpoints that do not carry them")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument(
        "--dry-run", metavar="FOLDER", help="write the files that would be uploaded into FOLDER and upload nothing"
    )
    p.set_defaults(run=run_push)


def run_download(args: argparse.Namespace) -> int:
    from ..hub import download_released, released_model

    for model in [released_model(n) for n in args.names]:  # every name checked before any download
        path = download_released(model.name)
        print(
            f"{model.name}: {path} ({path.stat().st_size / 1e6:.1f} MB, {model.dataset}, "
            f"{model.num_classes or 'no'} classes)"
        )
    return 0


def run_push(args: argparse.Namespace) -> int:
    from ..hub.huggingface import parse_repo
    from ..hub.push import push, write_repo_folder

    repo_id, _ = parse_repo(args.repo_id)
    if args.dry_run:
        for path in write_repo_folder(args.checkpoint, args.dry_run, args.dataset, repo_id):
            print(f"{path} ({path.stat().st_size / 1e6:.2f} MB)")
        print(f"nothing uploaded (--dry-run); 'maedfer push {args.checkpoint} {repo_id}' uploads these files")
        return 0
    print(f"uploaded: {push(args.checkpoint, repo_id, args.dataset, args.private)}")
    return 0
