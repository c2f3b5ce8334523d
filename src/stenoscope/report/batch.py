"""Batch analysis: find the clips under the given paths, analyse each (optionally in parallel processes),
write one report folder per clip and ``summary.csv``; a bad input fails its own row, never the batch.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stenoscope._fs import write_text_atomic
from stenoscope.errors import StenoscopeError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

# Files beside frames that do not make a folder "more than frames" (annotations, notes, DICOM info dumps).
SIDECAR_SUFFIXES = frozenset({".txt", ".xml", ".json", ".csv", ".md", ".yaml", ".yml", ".ini", ".log"})
SUMMARY_FIELDS = (
    "name",
    "input",
    "status",
    "probability",
    "stenosis",
    "votes",
    "key_frame",
    "n_frames",
    "error",
)


@dataclass(frozen=True)
class BatchItem:
    """One clip to analyse and the report folder name it gets (unique within the batch)."""

    path: Path
    name: str


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one item: its report.json (``report``) or a one-line ``error``."""

    item: BatchItem
    report: dict[str, Any] | None
    error: str | None
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def line(self) -> str:
        """The report as one JSON line (``--json``); empty for a failed item."""
        return "" if self.report is None else json.dumps(self.report, allow_nan=False, separators=(",", ":"))

    def summary_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"name": self.item.name, "input": str(self.item.path)}
        if self.report is None:
            return {**row, "status": "failed", "error": self.error}
        clip = self.report["clip"]
        return {
            **row,
            "status": "ok",
            "probability": f"{clip['probability']:.4f}",
            "stenosis": "yes" if clip["stenosis"] else "no",
            "votes": f"{clip['votes']}/{clip['n_votes']}",
            "key_frame": self.report["key_frame"],
            "n_frames": self.report["n_frames"],
            "error": "",
        }


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _clip_kind(path: Path) -> str | None:
    from stenoscope.io import sniff_format

    try:
        return sniff_format(path)
    except OSError:
        return None


def is_frame_folder(folder: Path) -> bool:
    """A folder holding only frame images (sidecar notes allowed, no sub-folders) is one clip."""
    entries = [entry for entry in folder.iterdir() if not _is_hidden(entry)]
    if any(entry.is_dir() for entry in entries):
        return False
    media = [entry for entry in entries if entry.suffix.lower() not in SIDECAR_SUFFIXES]
    return bool(media) and all(_clip_kind(entry) == "image" for entry in media)


def _walk(folder: Path) -> Iterable[Path]:
    if is_frame_folder(folder):
        yield folder
        return
    for entry in sorted(folder.iterdir()):
        if _is_hidden(entry):
            continue
        if entry.is_dir():
            yield from _walk(entry)
        elif entry.suffix.lower() not in SIDECAR_SUFFIXES and _clip_kind(entry) is not None:
            yield entry


def discover(inputs: Sequence[str | Path]) -> list[BatchItem]:
    """Expand files and folders (recursively) into clips with unique report names.

    A name that repeats (``a/IM1.dcm`` and ``b/IM1.dcm``) gets ``-2``, ``-3``... in discovery order, so no
    report overwrites another.
    """
    paths: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise StenoscopeError(f"{path}: no such file or folder")
        paths.extend(_walk(path) if path.is_dir() else [path])
    items, used = [], set()
    for path in paths:
        stem = path.name if path.is_dir() else path.stem
        name, counter = stem or "clip", 2
        while name.lower() in used:
            name, counter = f"{stem}-{counter}", counter + 1
        used.add(name.lower())
        items.append(BatchItem(path, name))
    return items


# One model per worker process, loaded once by the pool's initializer.
_WORKER_MODEL: Any = None


def _init_worker(model: nn.Module | str | Path | None, threads: int) -> None:
    import torch

    from stenoscope.report.pipeline import resolve_model

    torch.set_num_threads(threads)
    global _WORKER_MODEL
    _WORKER_MODEL = resolve_model(model)


def _run_one(item: BatchItem, out_dir: Path, options: dict[str, Any], model: Any = None) -> BatchResult:
    """Analyse and save one clip; any failure becomes this item's one-line error."""
    from stenoscope.report.pipeline import analyze

    try:
        report = analyze(
            item.path, model=_WORKER_MODEL if model is None else model, name=item.name, **options
        )
        report.save(out_dir / item.name)
        return BatchResult(item, report.to_json(), None, tuple(report.warnings))
    except StenoscopeError as error:
        return BatchResult(item, None, str(error).splitlines()[0])
    except Exception as error:  # a crash on one clip must not lose the other clips' results
        message = str(error).splitlines()[0] if str(error) else ""
        return BatchResult(item, None, f"{item.path}: internal {type(error).__name__}: {message}")


def write_summary(results: Sequence[BatchResult], path: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for result in results:
        writer.writerow(result.summary_row())
    return write_text_atomic(path, buffer.getvalue())


def analyze_batch(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    model: nn.Module | str | Path | None = None,
    workers: int = 1,
    threads: int | None = None,
    on_result: Callable[[BatchResult], None] | None = None,
    **options: Any,
) -> list[BatchResult]:
    """Analyse every clip found under ``inputs`` into ``out_dir/<name>/`` and write ``out_dir/summary.csv``.

    Args:
        inputs: files and folders (folders are searched recursively; a folder of frames is one clip).
        out_dir: where the report folders and summary.csv go.
        model: as for :func:`stenoscope.analyze`; loaded once (once per worker process).
        workers: parallel processes; each gets an equal share of the CPU threads.
        threads: torch threads per process instead (1 is much faster than 2 on a machine whose cores other
            jobs keep busy; see benchmarks/results/analyze.md).
        on_result: called with each result in input order as soon as it (and those before it) finished.
        **options: passed to :func:`stenoscope.analyze` (``keyframes``, ``count``...).

    Returns:
        One :class:`BatchResult` per clip, in discovery order.
    """
    if workers < 1:
        raise StenoscopeError(f"--workers must be at least 1, got {workers}")
    if threads is not None and threads < 1:
        raise StenoscopeError(f"--threads must be at least 1, got {threads}")
    items = discover(inputs)
    if not items:
        raise StenoscopeError("no clips found in: " + ", ".join(str(path) for path in inputs))
    out_dir = Path(out_dir)
    results: list[BatchResult] = []
    if workers == 1 or len(items) == 1:
        from stenoscope.report.pipeline import resolve_model

        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        loaded = resolve_model(model)
        for item in items:
            results.append(_run_one(item, out_dir, options, loaded))
            if on_result is not None:
                on_result(results[-1])
    else:
        from stenoscope.report.pipeline import resolve_model

        resolve_model(model)  # fail once, here, with the model's own message, not once per worker
        threads = threads or max(1, (os.cpu_count() or 1) // workers)
        context = get_context("spawn")  # fresh interpreters: forking a process that runs torch can deadlock
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(model, threads)
        ) as pool:
            futures: list[Future[BatchResult]] = [
                pool.submit(_run_one, item, out_dir, options) for item in items
            ]
            for item, future in zip(items, futures, strict=True):
                try:
                    results.append(future.result())
                except BrokenProcessPool as error:  # a worker killed (out of memory, a crashing decoder)
                    results.append(BatchResult(item, None, f"{item.path}: worker process died ({error})"))
                if on_result is not None:
                    on_result(results[-1])
    write_summary(results, out_dir / "summary.csv")
    return results
