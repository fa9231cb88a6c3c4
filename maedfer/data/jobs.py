"""Work over many videos that survives being stopped: ``maedfer pack`` and ``maedfer faces``.

- Each output is written under a temporary name and renamed when complete, so an
  interrupted run (Ctrl-C, a killed job, a full disk) leaves only whole outputs, and the
  same command again does only what is missing.
- ``OUT/<record>.json`` keeps the settings; a later run into the same folder with other
  settings is refused in one line (its outputs would be a mix of both).
- A video that cannot be read is reported in one line, recorded and left out; the rest go on.
- A write that fails (no space left, no permission) stops the run in one line; what was
  written stays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable

from tqdm import tqdm

from ..errors import MaedferError
from ..files import atomic_write


@dataclass
class JobResult:
    """What one worker did with one video: ``problem`` reading it (the video is left out),
    ``write_problem`` writing its output (the run stops), ``info`` to record."""

    source: str
    problem: str | None = None
    write_problem: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


class RunRecord:
    """``path`` (a JSON object): ``identity`` (the settings, compared with an earlier run's:
    ``verb`` says what was done, e.g. "packed"), ``source``, and what the run adds to
    ``data`` (what each video gave); what an earlier run added stays."""

    def __init__(
        self, path: Path, identity: dict[str, Any], source: str, verb: str, error: type[MaedferError] = MaedferError
    ) -> None:
        self.path, self.error = path, error
        self.data: dict[str, Any] = {**identity, "source": source}
        if path.is_file():
            try:
                earlier = json.loads(path.read_text())
            except (OSError, ValueError):
                raise error(f"{path}: unreadable record of an earlier run; remove it to start again") from None
            if not isinstance(earlier, dict) or any(earlier.get(k) != v for k, v in identity.items()):
                before = earlier.get("settings") if isinstance(earlier, dict) else earlier
                raise error(
                    f"{path.parent}: {verb} earlier with {before}, not {identity.get('settings')}; "
                    "use the same settings to continue, or another --out"
                )
            # what earlier runs recorded beyond the settings stays (what each video gave, ...)
            self.data.update({k: v for k, v in earlier.items() if k not in self.data})

    def save(self) -> None:
        try:
            atomic_write(self.path, lambda f: f.write(json.dumps(self.data, indent=2).encode()))
        except OSError as e:
            raise self.error(f"{self.path}: cannot write ({e.strerror or e})") from None


def partial_path(target: str | Path) -> Path:
    """Where ``target`` (a file or a folder) is written before it is complete: a hidden name
    beside it (``.NAME.partial.SUFFIX``), renamed into place when done."""
    target = Path(target)
    return target.with_name(f".{target.stem}.partial{target.suffix}")


def run_jobs(
    work: Callable[[Any], JobResult],
    jobs: list,
    workers: int,
    desc: str,
    on_result: Callable[[JobResult], None],
    partials: Callable[[], Iterable[Path]],
    progress: bool = True,
    skipped: str = "video",
) -> str | None:
    """``work`` on every job, in ``workers`` spawned processes (0: in this one), results to
    ``on_result`` as they come. Returns the first write problem (the run stops there), or
    None. However the run ends, the temporary files ``partials()`` names are removed: a
    worker killed mid-video leaves one."""
    pool = get_context("spawn").Pool(workers) if workers > 0 else None  # spawn: no forked decoder state
    try:
        results = pool.imap_unordered(work, jobs) if pool else map(work, jobs)
        for result in tqdm(results, total=len(jobs), desc=desc, unit="video", disable=not progress or None):
            if result.write_problem:
                return result.write_problem
            if result.problem:
                tqdm.write(f"maedfer: skipped {skipped}: {result.problem}")
            on_result(result)
        return None
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        for partial in partials():
            if partial.is_dir():
                for f in partial.iterdir():
                    f.unlink(missing_ok=True)
                partial.rmdir()
            else:
                partial.unlink(missing_ok=True)


def source_problem(source: str, error: Exception) -> str:
    """A read problem as one line that starts with the video's path."""
    return str(error) if str(error).startswith(source) else f"{source}: {error}"


def one_thread() -> None:
    """A worker's libraries on one thread each: N workers, each with a thread per core, would
    oversubscribe the CPU N times over."""
    import cv2

    cv2.setNumThreads(1)
