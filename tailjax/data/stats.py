"""Length statistics of record files: per task and split, completion characters and tokens, the
share of records over given token counts, and the eval budget `max_new_tokens: auto` gives."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tailjax.budgets import MARGIN, auto_budget

# Token counts whose exceedance `stats` reports: the 7B recipe's training rows (4096), its old
# eval budget (8192), Qwen2.5's max_position_embeddings (32768).
THRESHOLDS = (4096, 8192, 32768)


@dataclass
class LengthStats:
    task: str
    split: str
    count: int
    chars_mean: float              # completion characters
    chars_max: int
    tokens_mean: float             # prompt + completion tokens (before the end token)
    tokens_max: int
    completion_tokens_max: int     # the longest completion alone, in tokens
    thresholds: tuple[int, ...]
    over: tuple[float, ...]        # share (0..1) of records with tokens > each threshold

    @property
    def budget(self) -> int:
        """What `eval.max_new_tokens: auto` gives this (task, split) at the default margin."""
        return auto_budget(self.completion_tokens_max + 1)


def length_stats(records, tokenizer, thresholds=THRESHOLDS) -> list[LengthStats]:
    """Completion characters and prompt + completion tokens (what one training sequence holds,
    before the end token: a record over data.max_length tokens is dropped from training), the
    longest completion in tokens, and the share of records over each of `thresholds` tokens,
    grouped by (task, split): tasks in order of first appearance, then splits S, M, L."""
    groups: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
    for r in records:
        completion = len(tokenizer.encode(r["completion"]))
        tokens = len(tokenizer.encode(r["prompt"])) + completion
        groups[r["task"], r["split"]].append((len(r["completion"]), tokens, completion))
    out = []
    tasks = list(dict.fromkeys(task for task, _ in groups))
    order = sorted(groups, key=lambda ts: (tasks.index(ts[0]), "SML".find(ts[1]), ts[1]))
    for task, split in order:
        rows = groups[task, split]
        chars, toks = [c for c, _, _ in rows], [t for _, t, _ in rows]
        over = tuple(sum(t > limit for t in toks) / len(toks) for limit in thresholds)
        out.append(LengthStats(task, split, len(rows), sum(chars) / len(rows), max(chars),
                               sum(toks) / len(rows), max(toks), max(c for _, _, c in rows),
                               tuple(thresholds), over))
    return out


def _note(tokenizer_name: str) -> str:
    return (f"chars: completion; tokens: prompt + completion under {tokenizer_name}; >N: share "
            "of records over N tokens; auto budget: the eval's max_new_tokens auto, the longest "
            f"completion + end token x {MARGIN} on the budget grid")


def format_table(stats: list[LengthStats], tokenizer_name: str) -> str:
    """A fixed-width table, one line per (task, split)."""
    thresholds = stats[0].thresholds if stats else ()
    head = (f"{'task':<22}{'split':>6}{'count':>8}{'chars mean':>12}{'chars max':>11}"
            f"{'tokens mean':>13}{'tokens max':>12}"
            + "".join(f"{'>' + str(t):>9}" for t in thresholds) + f"{'auto budget':>13}")
    lines = [head, "-" * len(head)]
    for s in stats:
        lines.append(f"{s.task:<22}{s.split:>6}{s.count:>8}{s.chars_mean:>12.1f}{s.chars_max:>11}"
                     f"{s.tokens_mean:>13.1f}{s.tokens_max:>12}"
                     + "".join(f"{100 * o:>8.1f}%" for o in s.over) + f"{s.budget:>13}")
    lines.append(f"({_note(tokenizer_name)})")
    return "\n".join(lines)


def format_markdown(stats: list[LengthStats], tokenizer_name: str) -> str:
    """The same as a Markdown table, token columns only (BUILD.md's)."""
    thresholds = stats[0].thresholds if stats else ()
    lines = ["| task | split | n | tokens mean | tokens max | "
             + " | ".join(f"> {t}" for t in thresholds) + " | auto budget |",
             "|---|---|---:|---:|---:|" + "---:|" * len(thresholds) + "---:|"]
    for s in stats:
        lines.append(f"| {s.task} | {s.split} | {s.count} | {s.tokens_mean:.0f} | "
                     f"{s.tokens_max} | " + " | ".join(f"{100 * o:.1f}%" for o in s.over)
                     + f" | {s.budget} |")
    return "\n".join(lines) + f"\n\n({_note(tokenizer_name)})"
