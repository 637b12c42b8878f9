"""Running a study: its cells one after another, each an ordinary resumable training run.

Every cell is `tailjax.train.train` on the cell's config (grid.cell_config) in its own directory,
followed by its evaluation (eval.at_end), in this one process; on several hosts every process
runs the same cells in the same order, each cell on all of them. A cell whose evaluation is in
(cell.json says done) is skipped; any other resumes from its latest checkpoint, or redoes only
the evaluation when training had finished. SIGTERM (preemption) stops the study after the
running cell has saved; run the same command again to go on. At the end the report is written
(`study.report`).
"""

from __future__ import annotations

import json
import time
from typing import Callable, Sequence

from tailjax.config import to_dict
from tailjax.paths import resolve
from tailjax.study.grid import CELLS_DIR, Cell, cell_config
from tailjax.study.report import CELL_FILE, STUDY_FILE

DONE = "done"


def cell_dir(cfg) -> str:
    return str(resolve(cfg.train.out_dir))


def read_record(directory: str) -> dict:
    """A cell's cell.json ({} when it has none): status, config and the wall time of each
    part (invocation) of the study that worked on it."""
    path = resolve(directory) / CELL_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def progress_of(directory: str) -> str:
    """What a cell directory holds, for --dry-run: done, the latest checkpoint's step, started
    with no checkpoint yet, or new (from the file names alone: no JAX, no orbax)."""
    record = read_record(directory)
    if record.get("status") == DONE:
        return "done (skipped)"
    ckpts = resolve(directory) / "checkpoints"
    steps = [int(p.name) for p in ckpts.iterdir() if p.name.isdigit()] \
        if ckpts.exists() else []
    if steps:
        return f"resumes from step {max(steps)}"
    return "started, no checkpoint yet (starts over)" if record else "new"


# Keys that change how a run logs and keeps its checkpoints, not what it computes.
UNCOMPARED = ("train.out_dir", "train.log_every", "checkpoint.keep")


def check_unchanged(cell: Cell, cfg, record: dict) -> None:
    """ValueError when a cell that has started (done, or interrupted) was run with another
    config than it has now; UNCOMPARED keys aside (a study may move)."""
    if not record.get("config"):
        return
    now, then = _flat(to_dict(cfg)), _flat(record["config"])
    changed = sorted(k for k in now.keys() | then.keys()
                     if now.get(k) != then.get(k) and k not in UNCOMPARED)
    if changed:
        verb = "differs" if len(changed) == 1 else "differ"
        raise ValueError(f"cell {cell.name} was run with another config ({', '.join(changed[:3])}"
                         f" {verb}); run it with its config as it was, leave it out with "
                         f"--cells, give the study a new study.out_dir, or delete "
                         f"{cell_dir(cfg)} to run it again")


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict) and k in ("model", "data", "train", "checkpoint", "eval", "mesh",
                                         "study") and not prefix:
            out.update(_flat(v, f"{k}."))
        else:
            out[prefix + k] = v
    return out


def write_study(out_dir: str, path: str | None, overrides: Sequence[str],
                cells: Sequence[Cell], grid: dict) -> None:
    """study.json: the config, its overrides, the grid and every cell (all of them, also when
    --cells runs a few, so the report can flag the missing)."""
    root = resolve(out_dir)
    (root / CELLS_DIR).mkdir(parents=True, exist_ok=True)
    study = {"name": root.name, "config": path, "set": list(overrides), "grid": grid,
             "cells": [{"name": c.name, "axes": c.axes, "overrides": list(c.overrides)}
                       for c in cells]}
    (root / STUDY_FILE).write_text(json.dumps(study, indent=2) + "\n")


def pending_cells(path: str | None, overrides: Sequence[str], cells: Sequence[Cell],
                  say: Callable[[str], None] = print) -> list[tuple]:
    """The (cell, config, cell.json record) of `cells` still to run, in order: those not done.
    Decided before any cell runs, so every process decides the same. Raises ValueError for a
    cell whose config is invalid, or changed since it started (`check_unchanged`)."""
    pending = []
    for cell in cells:
        cfg = cell_config(path, overrides, cell)
        record = read_record(cell_dir(cfg))
        check_unchanged(cell, cfg, record)
        if record.get("status") == DONE:
            say(f"cell {cell.name}: done, skipped")
        else:
            pending.append((cell, cfg, record))
    return pending


def run_cells(pending: Sequence[tuple], progress: bool = True,
              say: Callable[[str], None] = print) -> str:
    """Train and evaluate the `pending_cells` in order; returns "done", or "sigterm" when a
    cell stopped on SIGTERM (it saved; the study stops there). Writes each cell's cell.json on
    process 0. Raises train's NonFiniteLoss."""
    import jax

    from tailjax.train import train

    main = jax.process_index() == 0
    for i, (cell, cfg, record) in enumerate(pending):
        say(f"cell {cell.name} ({i + 1} of {len(pending)} to run): {' '.join(cell.overrides)}")
        record = {"name": cell.name, "axes": cell.axes, "config": to_dict(cfg),
                  "parts": record.get("parts", []), "status": "running"}
        if main:
            _write_record(cfg, record)
        start, status = time.perf_counter(), "interrupted"
        try:
            result = train(cfg, progress=progress)
            status = DONE if result.status in ("done", "exhausted") else result.status
        finally:
            record["parts"].append({"seconds": time.perf_counter() - start, "status": status})
            record["status"] = status
            if main:
                _write_record(cfg, record)
        if status != DONE:
            say(f"cell {cell.name}: stopped ({status}); run the same command to resume it")
            return status
    return DONE


def _write_record(cfg, record: dict) -> None:
    path = resolve(cfg.train.out_dir) / CELL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
