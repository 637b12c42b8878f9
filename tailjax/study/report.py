"""The study's report: every cell's evaluation side by side, in the layouts of the TAIL paper.

Reads a study directory (study.json, and per cell cells/NAME/: eval/results.json,
train_log.jsonl, cell.json, eval/samples.jsonl) and writes results.json, results.md,
accuracy.png and accuracy_by_length.png into it:

- Table 1 layout (the paper's Table 1, TAIL against its baselines): per setting (the variant and
  any other axis but the seed) the mean and spread over seeds of pass@1 on S/M/L (and stretch);
  the ablations (no-fetch, no-atomic, no-linear: the paper's Table 2) in their own table beside
  TAIL. pass@1 of a cell is the mean over its tasks, as the eval's mean row.
- pass@1 against input length, one line per setting, the seeds' min-max shaded, the trained
  lengths marked (the paper's Figure 3); a panel per task.
- per cell: status, steps, tokens trained (non-padding tokens of its rows), the time its steps
  took and the wall time the study spent on it (training and eval, over all its parts).
- for multi-task studies, tasks x S/M/L per setting (the paper's Figure 4).
- failure analysis: for each wrong answer the first part of its trace that differs from the
  reference trace of the same instance (`study.divergence`), counted per setting and length.

Cells of the grid that have no results are listed as missing, and a setting whose seeds are not
all in says how many are.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Sequence

import numpy as np

from tailjax.paths import read_jsonl, resolve
from tailjax.plots import pyplot, save_png
from tailjax.study.grid import CELLS_DIR, SEED, VARIANT, setting

STUDY_FILE = "study.json"      # the grid: written when a study starts
CELL_FILE = "cell.json"        # a cell's status, config and wall time: written by the study
REPORT_FILES = ("results.json", "results.md", "accuracy.png", "accuracy_by_length.png")
ABLATIONS = ("no-fetch", "no-atomic", "no-linear")  # the paper's Table 2
TAIL_VARIANTS = ("tail", "tail-styled")             # what the ablations are compared with
TOP_DIVERGENCES = 3


class NoResults(ValueError):
    """A directory holds no study, or no cell of it has results."""


def stats(values: Sequence[float]) -> dict:
    """mean, sample standard deviation (ddof 1; None for one value), min, max and n of
    `values` (accuracies in %); None entries are ignored."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    return {"n": len(xs), "mean": float(np.mean(xs)),
            "sd": float(np.std(xs, ddof=1)) if len(xs) > 1 else None,
            "min": min(xs), "max": max(xs)}


def collect(out_dir: str, divergence: bool = True) -> dict:
    """The report's content (what results.json holds) for study directory `out_dir`.
    NoResults (one line, naming the fix) when it holds no study.json or no cell results."""
    root = resolve(out_dir)
    study_file = root / STUDY_FILE
    if not study_file.exists():
        raise NoResults(f"{out_dir} holds no {STUDY_FILE}, so it is no study directory; give "
                        "the study's study.out_dir, or run `python -m tailjax.study --config "
                        "FILE` first")
    study = json.loads(study_file.read_text())
    cells = [_cell(root / CELLS_DIR / c["name"], c) for c in study["cells"]]
    if not any(c["results"] for c in cells):
        raise NoResults(f"no cell of the study in {out_dir} has results yet (no "
                        f"{CELLS_DIR}/NAME/eval/results.json); run `python -m tailjax.study "
                        "--config FILE` to train and evaluate them")
    groups = _groups(cells)
    out = {"study": {k: v for k, v in study.items() if k != "cells"},
           "splits": _splits(cells),
           "groups": groups,
           "cells": [{k: v for k, v in c.items() if k not in ("results", "config", "dir")}
                     for c in cells],
           "missing": [c["name"] for c in cells if not c["results"]],
           "tasks": sorted({t for c in cells if c["results"] for t in c["results"]["tasks"]}),
           "train_lengths": next((c["results"].get("train_lengths") for c in cells
                                  if c["results"]), {})}
    out["failures"] = _failures(cells, groups) if divergence else {}
    return out


def _cell(directory, entry: dict) -> dict:
    """One grid cell's results, training log totals and study record (None where absent)."""
    from tailjax.metrics import LOG_FILE, read_log  # jax-importing: not on --dry-run's path

    results_file = directory / "eval" / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else None
    record_file = directory / CELL_FILE
    record = json.loads(record_file.read_text()) if record_file.exists() else {}
    log_file = directory / LOG_FILE
    log = [r for r in read_log(log_file) if "loss" in r] if log_file.exists() else []
    accuracy, by_task = {}, {}
    if results:
        table = results["tasks"]
        for task, row in table.items():
            by_task[task] = {s: 100 * c["accuracy"] for s, c in row.items()}
        splits = list(next(iter(table.values()))) if table else []
        accuracy = {s: float(np.mean([by_task[t][s] for t in table])) for s in splits}
    return {"name": entry["name"], "axes": entry["axes"], "setting": setting(entry["axes"]),
            "status": ("evaluated" if results else record.get("status") or
                       ("training" if log else "not started")),
            "accuracy": accuracy, "by_task": by_task,
            "by_length": {t: {n: 100 * c["accuracy"] for n, c in row.items()}
                          for t, row in (results or {}).get("by_length", {}).items()},
            "steps": max((r["step"] for r in log), default=0),
            "tokens": int(sum(r.get("tokens", 0) for r in log)),
            "step_seconds": float(sum(r.get("seconds", 0.0) for r in log)),
            "wall_seconds": (float(sum(p["seconds"] for p in record["parts"]))
                             if record.get("parts") else None),
            "results": results, "config": record.get("config"), "dir": str(directory)}


def _splits(cells: list[dict]) -> list[str]:
    splits: list[str] = []
    for c in cells:
        splits += [s for s in c["accuracy"] if s not in splits]
    return splits


def _groups(cells: list[dict]) -> list[dict]:
    """Per setting, in grid order: its cells, the seeds with results, and stats per split,
    per task and split, and per task and length."""
    order: dict[str, list[dict]] = {}
    for c in cells:
        order.setdefault(c["setting"], []).append(c)
    groups = []
    for name, members in order.items():
        done = [c for c in members if c["results"]]
        variant = members[0]["axes"].get(VARIANT)
        tasks = sorted({t for c in done for t in c["by_task"]})
        lengths = {t: sorted({int(n) for c in done for n in c["by_length"].get(t, {})})
                   for t in tasks}
        groups.append({
            "setting": name, "variant": variant,
            "cells": [c["name"] for c in members], "evaluated": [c["name"] for c in done],
            "seeds": [c["axes"].get(SEED) for c in done],
            "accuracy": {s: stats([c["accuracy"].get(s) for c in done])
                         for s in _splits(done)},
            "by_task": {t: {s: stats([c["by_task"].get(t, {}).get(s) for c in done])
                            for s in _splits(done)} for t in tasks},
            "by_length": {t: {str(n): stats([c["by_length"].get(t, {}).get(str(n))
                                             for c in done]) for n in lengths[t]}
                          for t in tasks}})
    return groups


# ---- failure analysis ----------------------------------------------------------------------------

def _failures(cells: list[dict], groups: list[dict]) -> dict:
    """Per setting: per (task, length), the wrong answers and how often each first divergence
    occurs; cells without samples.jsonl or a recorded config are named as skipped."""
    from tailjax.study.divergence import wrong_samples_divergences

    references: dict[tuple, dict] = {}
    by_setting: dict[str, dict] = {g["setting"]: {} for g in groups}
    skipped = []
    for c in cells:
        samples_file = resolve(c["dir"]) / "eval" / "samples.jsonl"
        if not c["results"]:
            continue
        if not samples_file.exists() or not c["config"]:
            skipped.append(c["name"])
            continue
        samples = read_jsonl(samples_file, ("task", "split", "prompt", "output", "correct"))
        refs = _references(c, samples, references)
        variant = c["results"]["variant"]
        table = by_setting[c["setting"]]
        for sample, found in wrong_samples_divergences(samples, refs, variant):
            row = table.setdefault(f"{sample['task']} {sample['length']}",
                                   {"task": sample["task"], "length": sample["length"],
                                    "wrong": 0, "first_divergence": Counter()})
            row["wrong"] += 1
            if found is not None:
                row["first_divergence"][found.describe()] += 1
    for table in by_setting.values():
        for row in table.values():
            row["first_divergence"] = dict(row["first_divergence"].most_common())
    ordered = {s: dict(sorted(t.items(), key=lambda kv: (kv[1]["task"], kv[1]["length"])))
               for s, t in by_setting.items()}
    return {"by_setting": ordered, "skipped": skipped}


def _references(cell: dict, samples: list[dict], cache: dict) -> dict:
    """(task, split, prompt) -> (record, Trace) of the test records the cell's wrong samples
    came from, regenerated as its evaluation drew them (shared between cells of one setting)."""
    from tailjax.config import config_from_dict
    from tailjax.eval import eval_options, traced_test_records

    cfg = config_from_dict(cell["config"])
    options = eval_options(cfg)
    results = cell["results"]
    refs = {}
    for task, split in sorted({(s["task"], s["split"]) for s in samples if not s["correct"]}):
        lengths = results.get("lengths", {}).get(split)
        key = (task, split, results["n"], results["variant"], tuple(lengths or ()),
               options["template"], options["notation"], options["integer"])
        if key not in cache:
            pairs = traced_test_records(task, split, results["n"], results["variant"], lengths,
                                        options["template"], options["notation"],
                                        options["integer"])
            cache[key] = {(task, split, r["prompt"]): (r, t) for r, t in pairs}
        refs.update(cache[key])
    return refs


# ---- the markdown --------------------------------------------------------------------------------

def _pct(st: dict) -> str:
    if not st or st["mean"] is None:
        return "—"
    if st["sd"] is None:
        return f"{st['mean']:.1f}"
    return f"{st['mean']:.1f} ± {st['sd']:.1f} ({st['min']:.1f}–{st['max']:.1f})"


def _seeds_note(group: dict) -> str:
    done, total = len(group["evaluated"]), len(group["cells"])
    return f"{done}" if done == total else f"{done} of {total} (missing)"


def _accuracy_table(groups: list[dict], splits: list[str]) -> list[str]:
    lines = ["| setting | seeds | " + " | ".join(splits) + " |",
             "|---|---:|" + "---:|" * len(splits)]
    for g in groups:
        lines.append(f"| {g['setting']} | {_seeds_note(g)} | "
                     + " | ".join(_pct(g["accuracy"].get(s)) for s in splits) + " |")
    return lines


def report_markdown(summary: dict) -> str:
    """The report as markdown: Table 1 and Table 2 layouts, tasks x splits, cells, failures."""
    splits, groups = summary["splits"], summary["groups"]
    ablations = [g for g in groups if g["variant"] in ABLATIONS]
    table1 = [g for g in groups if g["variant"] not in ABLATIONS]
    table2 = [g for g in groups if g["variant"] in TAIL_VARIANTS] + ablations
    trained = summary.get("train_lengths") or {}
    lines = [f"# Study {summary['study'].get('name', '')}".rstrip(), "",
             f"Config `{summary['study'].get('config')}`; grid "
             f"{json.dumps(summary['study'].get('grid'))}. pass@1 (%) per setting: the mean "
             "± sample standard deviation over seeds (min–max); a cell's pass@1 is the mean over "
             "its tasks. Trained on "
             + (", ".join(f"{s} {lo}-{hi}" for s, (lo, hi) in trained.items()) or
                "the tasks' own S lengths") + ".", ""]
    if summary["missing"]:
        lines += [f"**Missing cells** (no eval/results.json yet): "
                  f"{', '.join(summary['missing'])}.", ""]
    lines += ["## TAIL and its baselines (Table 1 layout)", ""] + _accuracy_table(table1, splits)
    if ablations:
        lines += ["", "## Ablations (Table 2 layout)", "",
                  "Each ablation removes one module of TAIL from the trace: no-linear the linear "
                  "transitions, no-atomic the atomic states, no-fetch the memory fetcher.", ""]
        lines += _accuracy_table(table2, splits)
    lines += ["", "![pass@1 per split](accuracy.png)", "",
              "![pass@1 against input length](accuracy_by_length.png)", ""]
    if len(summary["tasks"]) > 1:
        lines += ["## Tasks x splits (Figure 4 layout)", "",
                  "| task | setting | " + " | ".join(splits) + " |",
                  "|---|---|" + "---:|" * len(splits)]
        for task in summary["tasks"]:
            for g in groups:
                if task in g["by_task"]:
                    lines.append(f"| {task} | {g['setting']} | " + " | ".join(
                        _pct(g["by_task"][task].get(s)) for s in splits) + " |")
        lines.append("")
    lines += _cells_table(summary["cells"])
    lines += _failures_markdown(summary.get("failures") or {}, len(summary["tasks"]) > 1)
    return "\n".join(lines) + "\n"


def _cells_table(cells: list[dict]) -> list[str]:
    lines = ["## Cells", "",
             "Tokens trained: the non-padding tokens of the packed rows (prompts included); "
             "step time: the training steps alone; wall time: what the study spent on the cell, "
             "training and eval, over all its parts.", "",
             "| cell | status | steps | tokens trained | step time (s) | wall time (s) |",
             "|---|---|---:|---:|---:|---:|"]
    for c in cells:
        wall = f"{c['wall_seconds']:.0f}" if c["wall_seconds"] is not None else "—"
        lines.append(f"| {c['name']} | {c['status']} | {c['steps']} | {c['tokens']:,} | "
                     f"{c['step_seconds']:.0f} | {wall} |")
    tokens = [c["tokens"] for c in cells if c["status"] == "evaluated" and c["tokens"]]
    if tokens:
        lines += ["", f"Tokens trained per evaluated cell: {min(tokens):,} to {max(tokens):,} "
                      f"(largest / smallest = {max(tokens) / min(tokens):.3f})."]
    return lines + [""]


def _failures_markdown(failures: dict, multi_task: bool) -> list[str]:
    if not failures:
        return []
    lines = ["## Where wrong answers first leave the reference trace", "",
             "For each wrong answer, the first part of its trace that differs from the reference "
             "trace of the same instance (\"fetch x2 wrong at column #9\": the 9th iteration of "
             "loop `column` read a wrong x2); counted over the setting's seeds.", "",
             "| setting | " + ("task | " if multi_task else "") + "length | wrong | "
             "first divergences (most common first) |",
             "|---|" + ("---|" if multi_task else "") + "---:|---:|---|"]
    for name, table in failures.get("by_setting", {}).items():
        for row in table.values():
            top = list(row["first_divergence"].items())[:TOP_DIVERGENCES]
            text = "; ".join(f"{what} ({count})" for what, count in top) or "—"
            lines.append(f"| {name} | " + (f"{row['task']} | " if multi_task else "")
                         + f"{row['length']} | {row['wrong']} | {text} |")
    if failures.get("skipped"):
        lines += ["", f"No samples.jsonl or recorded config (not analysed): "
                      f"{', '.join(failures['skipped'])}."]
    return lines + [""]


# ---- plots ---------------------------------------------------------------------------------------

def plot_splits(summary: dict, path) -> None:
    """Bars of mean pass@1 per split and setting, the seeds' min-max as error bars and each
    seed as a dot."""
    plt = pyplot()

    splits, groups = summary["splits"], summary["groups"]
    cells = {c["name"]: c for c in summary["cells"]}
    width = 0.8 / max(len(groups), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(splits) + 0.4 * len(groups)), 4))
    x = np.arange(len(splits))
    for i, g in enumerate(groups):
        st = [g["accuracy"].get(s) or stats([]) for s in splits]
        mean = np.array([s["mean"] if s["mean"] is not None else np.nan for s in st])
        low = np.array([s["min"] if s["min"] is not None else np.nan for s in st])
        high = np.array([s["max"] if s["max"] is not None else np.nan for s in st])
        at = x + (i - (len(groups) - 1) / 2) * width
        ax.bar(at, np.nan_to_num(mean), width, label=g["setting"],
               yerr=np.nan_to_num([mean - low, high - mean]), capsize=2)
        for name in g["evaluated"]:
            ys = [cells[name]["accuracy"].get(s, np.nan) for s in splits]
            ax.plot(at, ys, ".", color="black", ms=3)
    ax.set_xticks(x, splits)
    ax.set_ylim(0, 102)
    ax.set_ylabel("pass@1 (%)")
    ax.set_title("pass@1 per split: mean over seeds (bars: min-max; dots: seeds)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_png(fig, path)


def plot_by_length(summary: dict, path) -> None:
    """pass@1 against input length, one line per setting (mean over seeds, min-max shaded),
    the trained lengths shaded grey; one panel per task."""
    plt = pyplot()

    tasks = summary["tasks"]
    cols = min(3, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        for lo, hi in (summary.get("train_lengths") or {}).values():
            ax.axvspan(lo - 0.5, hi + 0.5, color="0.88", zorder=0)
        for g in summary["groups"]:
            row = g["by_length"].get(task) or {}
            xs = [int(n) for n in row]
            if not xs:
                continue
            mean = [row[n]["mean"] for n in row]
            line, = ax.plot(xs, mean, "o-", ms=3, label=g["setting"])
            ax.fill_between(xs, [row[n]["min"] for n in row], [row[n]["max"] for n in row],
                            color=line.get_color(), alpha=0.15, lw=0)
        ax.set_ylim(-2, 102)
        ax.set_xlabel("input length")
        ax.set_ylabel("pass@1 (%)")
        ax.set_title(f"{task} (shaded grey: trained lengths)")
        if ax.lines:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    fig.tight_layout()
    save_png(fig, path)


def write_report(out_dir: str, divergence: bool = True) -> list[str]:
    """REPORT_FILES in the study directory; returns their paths. NoResults as `collect`."""
    summary = collect(out_dir, divergence)
    root = resolve(out_dir)
    paths = [root / name for name in REPORT_FILES]
    paths[0].write_text(json.dumps(summary, indent=2) + "\n")
    paths[1].write_text(report_markdown(summary))
    plot_splits(summary, paths[2])
    plot_by_length(summary, paths[3])
    return [str(p) for p in paths]

