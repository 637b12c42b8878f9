"""Token budgets of an evaluation: `eval.max_new_tokens` per (task, split) cell, from the data.

A correct output is its reference completion followed by the end token, so a cell needs at least
`need` = the longest reference completion of its test items, in the model's tokens, plus one.
`max_new_tokens: auto` gives every cell

    budget = on_grid(ceil(need * margin))        margin = eval.budget_margin, default 1.25

The margin leaves an output that strays from the reference procedure (a repeated line, an extra
step) room to finish; `on_grid` rounds up to a power of two or three halves of one (at most 50%
more, 20% on average over lengths spread evenly in log scale), because the decoder compiles once
per budget: the 54 cells of the 7B recipe share 12 budgets, so its evaluation compiles about a
dozen decode shapes, not 54. An explicit integer budget is one budget for every cell, as before;
cells whose references do not fit it are named before decoding (`coverage_warnings`), and cells
whose outputs hit their budget more often than eval.warn_truncated after it
(`truncation_warnings`).

Budgets from 1k to 48k tokens cannot share one batch size: the KV cache holds rows x (prompt +
budget) tokens. `rows_per_batch` caps the rows of a budget's batches so that they hold at most
eval.batch_tokens cache tokens (0: eval.batch_size rows always).
"""

from __future__ import annotations

import math
from typing import Mapping

AUTO = "auto"
MARGIN = 1.25
WARN_TRUNCATED = 0.01
_FIX = "set eval.max_new_tokens (--max-new-tokens) to auto or to a larger number of tokens"


def check_setting(value, name: str = "eval.max_new_tokens") -> int | str:
    """A budget setting: a positive number of tokens (an int, or its digits as text) or "auto".
    ValueError naming the setting, what it got and what it accepts otherwise."""
    if isinstance(value, str):
        text = value.strip()
        if text == AUTO:
            return AUTO
        if text.lstrip("+-").isdigit():
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool):
        if value >= 1:
            return value
        raise ValueError(f"{name} must be at least 1 token, got {value}; write a number of new "
                         "tokens such as 8192, or auto (each task and split's longest reference "
                         "trace plus its end token, times eval.budget_margin)")
    raise ValueError(f"{name} {value!r} is neither a number of tokens nor auto; write e.g. 8192, "
                     "or auto (each task and split's longest reference trace plus its end token, "
                     "times eval.budget_margin)")


def check_margin(margin: float) -> float:
    """eval.budget_margin: at least 1 (below it, auto would cut off the longest references)."""
    if not margin >= 1:
        raise ValueError(f"eval.budget_margin must be at least 1, got {margin}; auto multiplies "
                         "each cell's longest reference trace by it")
    return float(margin)


def check_warn_share(share: float) -> float:
    """eval.warn_truncated: a share in [0, 1) of a cell's outputs."""
    if not 0 <= share < 1:
        raise ValueError(f"eval.warn_truncated must be a share of outputs in [0, 1), got {share};"
                         " e.g. 0.01 warns when more than 1% of a cell's outputs hit the budget")
    return float(share)


def on_grid(n: int) -> int:
    """The smallest budget >= n that is a power of two or three halves of one: 1, 2, 3, 4, 6, 8,
    12, 16, ..., 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, ... At most 50% above n."""
    if n < 1:
        raise ValueError(f"a token budget must be at least 1, got {n}")
    power = 1 << (n - 1).bit_length()  # the smallest power of two >= n
    return power * 3 // 4 if power >= 4 and power * 3 // 4 >= n else power


def auto_budget(need: int, margin: float = MARGIN) -> int:
    """Budget (new tokens) of a cell whose longest reference needs `need` tokens (completion
    plus the end token): on_grid(ceil(need * margin))."""
    # The product rounded first: 1.25 * 800 must give 1000, not 1000.0000000001 -> 1001.
    return on_grid(math.ceil(round(need * check_margin(margin), 6)))


def cell_budgets(needs: Mapping, setting, margin: float = MARGIN) -> dict:
    """{cell: budget} for {cell: need}: `setting` itself when it is a number, else auto_budget."""
    setting = check_setting(setting)
    return {cell: (auto_budget(need, margin) if setting == AUTO else setting)
            for cell, need in needs.items()}


def rows_per_batch(budget: int, longest_prompt: int, batch_size: int, batch_tokens: int = 0,
                   multiple: int = 1) -> int:
    """Rows of each decode batch of a budget: batch_size, or fewer when batch_tokens > 0 so that
    rows x (longest prompt rounded up to a power of two + budget) <= batch_tokens, in whole
    `multiple`s (the decoder's data shards) and at least one `multiple`. The power of two bounds
    the decoder's prompt padding, so the KV cache holds at most batch_tokens tokens."""
    if batch_tokens <= 0:
        return batch_size
    cache = (1 << max(0, longest_prompt - 1).bit_length()) + budget
    rows = min(batch_size, batch_tokens // cache)
    return max(multiple, rows // multiple * multiple)


def check_batch_tokens(batch_tokens: int) -> int:
    """eval.batch_tokens: 0 (off) or a positive number of KV-cache tokens per batch."""
    if batch_tokens < 0:
        raise ValueError(f"eval.batch_tokens must be 0 (eval.batch_size rows for every budget) or "
                         f"a number of KV-cache tokens per batch, got {batch_tokens}")
    return batch_tokens


def coverage_warnings(needs: Mapping, budgets: Mapping, counts: Mapping) -> list[str]:
    """One line per cell whose longest reference (`needs`, end token included) exceeds its budget:
    correct outputs there would be cut off. counts: {cell: references over the budget, items}."""
    lines = []
    for (task, split), need in needs.items():
        budget = budgets[task, split]
        if need > budget:
            over, total = counts[task, split]
            lines.append(f"{task} {split}: {over} of {total} reference traces need more than the "
                         f"{budget}-token budget (the longest {need} with its end token), so "
                         f"their correct outputs would be cut off; {_FIX}")
    return lines


def truncation_warnings(table: Mapping, threshold: float = WARN_TRUNCATED,
                        setting=None) -> list[str]:
    """One line per cell of `table` ({task: {split: tally}}, tallies with n, truncated and
    max_new_tokens) whose truncated share exceeds `threshold`, naming the cell, the share and the
    fix."""
    lines = []
    for task, row in table.items():
        for split, cell in row.items():
            n, cut = cell["n"], cell["truncated"]
            if n and cut / n > threshold:
                fix = (_FIX if setting != AUTO else
                       "the references fit their budget, so these outputs ran longer than any "
                       "reference (read them in samples.jsonl); to let them finish, raise "
                       "eval.budget_margin or set eval.max_new_tokens to a larger number")
                lines.append(f"{task} {split}: {cut} of {n} outputs ({cut / n:.1%}) hit the "
                             f"{cell['max_new_tokens']}-token budget without an end token "
                             f"(more than eval.warn_truncated {threshold:.1%}); they are scored "
                             f"on what they wrote; {fix}")
    return lines
