"""What an evaluation writes: results.json, results.md (the pass@1 table), accuracy.png,
accuracy_by_length.png and samples.jsonl, from the results dict `eval.evaluate` returns."""

from __future__ import annotations

import json

import numpy as np

from tailjax.paths import jsonl_text, resolve
from tailjax.plots import pyplot, save_png

RESULT_FILES = ("results.json", "results.md", "accuracy.png", "accuracy_by_length.png",
                "samples.jsonl")


def results_markdown(results: dict) -> str:
    """Accuracy (%) per task and split, with the counts that explain the misses: per cell the
    unparsed and truncated outputs, the token budget and the longest reference output; then the
    run's warnings (cells whose references or outputs did not fit their budget)."""
    table = results["tasks"]
    splits = list(next(iter(table.values()))) if table else []
    lines = [f"pass@1 (greedy), variant {results['variant']}, n={results['n']} per cell, "
             f"max_new_tokens {_budget_note(results)}",
             "", "| task | " + " | ".join(splits) + " |",
             "|---|" + "---:|" * len(splits)]
    for task, row in table.items():
        cells = [f"{100 * row[s]['accuracy']:.1f}" for s in splits]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    if table:
        means = [100 * np.mean([row[s]["accuracy"] for row in table.values()]) for s in splits]
        lines.append("| **mean** | " + " | ".join(f"**{m:.1f}**" for m in means) + " |")
    warnings = results.get("warnings") or []
    if warnings:
        lines += [""] + [f"- **warning**: {w}" for w in warnings]
    lines += ["", "| task | split | correct | unparsed | truncated | mean tokens | budget | "
                  "longest reference |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for task, row in table.items():
        for s in splits:
            c = row[s]
            lines.append(f"| {task} | {s} | {c['correct']}/{c['n']} | {c['unparsed']} | "
                         f"{c['truncated']} | {c['mean_generated_tokens']:.1f} | "
                         f"{c.get('max_new_tokens', '')} | {c.get('reference_tokens', '')} |")
    by_length = results.get("by_length") or {}
    if by_length:
        lines += ["", "pass@1 by input length (" + _trained_note(results) + ")", "",
                  "| task | length | correct | accuracy |", "|---|---:|---:|---:|"]
        for task, row in by_length.items():
            for n, c in row.items():
                lines.append(f"| {task} | {n} | {c['correct']}/{c['n']} | "
                             f"{100 * c['accuracy']:.1f} |")
    return "\n".join(lines) + "\n"


def _budget_note(results: dict) -> str:
    setting = results.get("max_new_tokens")
    if setting == "auto":
        return (f"auto (per cell: longest reference x {results.get('budget_margin')}, on the "
                "budget grid)")
    return f"{setting} for every cell"


def _trained_note(results: dict) -> str:
    trained = results.get("train_lengths") or {}
    if not trained:
        return "training lengths not recorded"
    return "trained on " + ", ".join(f"{s} {lo}-{hi}" for s, (lo, hi) in trained.items())


def plot_accuracy(results: dict, path: str) -> None:
    """Grouped bars: accuracy by task, one bar per split."""
    plt = pyplot()

    table = results["tasks"]
    task_names = list(table)
    splits = list(next(iter(table.values()))) if table else []
    width = 0.8 / max(len(splits), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(task_names) + 2), 4))
    x = np.arange(len(task_names))
    for i, s in enumerate(splits):
        bars = ax.bar(x + (i - (len(splits) - 1) / 2) * width,
                      [100 * table[t][s]["accuracy"] for t in task_names], width, label=s)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)  # a 0% bar is otherwise invisible
    ax.set_xticks(x, task_names, rotation=30, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel("pass@1 (%)")
    ax.set_title(f"greedy pass@1 by task and length split ({results['variant']})")
    ax.legend(title="split")
    fig.tight_layout()
    save_png(fig, path)


def plot_by_length(results: dict, path: str) -> None:
    """pass@1 against input length, one line per task, the trained lengths shaded."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for lo, hi in (results.get("train_lengths") or {}).values():
        ax.axvspan(lo - 0.5, hi + 0.5, color="0.88", zorder=0)
    for task, row in (results.get("by_length") or {}).items():
        xs = [int(n) for n in row]
        ax.plot(xs, [100 * c["accuracy"] for c in row.values()], "o-", label=task)
    ax.set_ylim(-2, 102)
    ax.set_xlabel("input length (digits per operand, or the task's length)")
    ax.set_ylabel("pass@1 (%)")
    ax.set_title(f"greedy pass@1 by input length ({results['variant']}; shaded: trained)")
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    save_png(fig, path)


def write_results(results: dict, out_dir: str) -> list[str]:
    """RESULT_FILES in out_dir; returns their paths."""
    directory = resolve(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / name for name in RESULT_FILES]
    summary = {k: v for k, v in results.items() if k != "samples"}
    paths[0].write_text(json.dumps(summary, indent=2) + "\n")
    paths[1].write_text(results_markdown(results))
    plot_accuracy(results, paths[2])
    plot_by_length(results, paths[3])
    paths[4].write_text(jsonl_text(results.get("samples", [])))
    return [str(p) for p in paths]
