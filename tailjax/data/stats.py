"""Length statistics of record files: per task and split, completion characters and tokens."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass


@dataclass
class LengthStats:
    task: str
    split: str
    count: int
    chars_mean: float
    chars_max: int
    tokens_mean: float
    tokens_max: int


def length_stats(records, tokenizer) -> list[LengthStats]:
    """Completion characters and prompt + completion tokens (what one training sequence holds,
    before the end token), grouped by (task, split): tasks in order of first appearance, then
    splits S, M, L."""
    groups: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for r in records:
        tokens = len(tokenizer.encode(r["prompt"])) + len(tokenizer.encode(r["completion"]))
        groups[r["task"], r["split"]].append((len(r["completion"]), tokens))
    out = []
    tasks = list(dict.fromkeys(task for task, _ in groups))
    order = sorted(groups, key=lambda ts: (tasks.index(ts[0]), "SML".find(ts[1]), ts[1]))
    for task, split in order:
        rows = groups[task, split]
        chars, toks = [c for c, _ in rows], [t for _, t in rows]
        out.append(LengthStats(task, split, len(rows), sum(chars) / len(rows), max(chars),
                               sum(toks) / len(rows), max(toks)))
    return out


def format_table(stats: list[LengthStats], tokenizer_name: str) -> str:
    head = (f"{'task':<22}{'split':>6}{'count':>8}{'chars mean':>12}{'chars max':>11}"
            f"{'tokens mean':>13}{'tokens max':>12}")
    lines = [head, "-" * len(head)]
    for s in stats:
        lines.append(f"{s.task:<22}{s.split:>6}{s.count:>8}{s.chars_mean:>12.1f}{s.chars_max:>11}"
                     f"{s.tokens_mean:>13.1f}{s.tokens_max:>12}")
    lines.append(f"(chars: completion; tokens: prompt + completion under {tokenizer_name})")
    return "\n".join(lines)
