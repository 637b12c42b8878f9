"""Token budgets of an evaluation: `eval.max_new_tokens` per (task, split) cell, from the data.

A correct output is its reference completion followed by the end token, so a cell needs at least
`need` = the longest reference completion of its test items, in the model's tokens, plus one.
`max_new_tokens: auto` gives every cell

    budget = on_grid(ceil(need * margin))        margin = eval.budget_margin, default 1.25

The margin leaves an output that strays from the reference procedure (a repeated line, an extra
step) room to finish; `on_grid` rounds up to one of four values per doubling (4, 5, 6 or 7 times
a power of two: at most 25% more), because the decoder compiles once per budget: 54 cells share
a few budgets, so an evaluation compiles a few shapes, not 54. An explicit integer budget is one
budget for every cell, as before; cells whose references do not fit it are named before decoding
(`coverage_warnings`), and cells whose outputs hit their budget more often than
eval.warn_truncated after it (`truncation_warnings`).
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
    """The smallest budget >= n of the form m * 2^k with m in {4, 5, 6, 7} (any n below 8 as
    is): 8, 10, 12, 14, 16, 20, ..., 8192, 10240, 12288, 14336, 16384, ... At most 25% above n."""
    if n < 1:
        raise ValueError(f"a token budget must be at least 1, got {n}")
    step = 1 << max(0, n.bit_length() - 3)
    return -(-n // step) * step


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
                       "reference (read them in samples.jsonl); raise eval.budget_margin to "
                       "let them finish")
                lines.append(f"{task} {split}: {cut} of {n} outputs ({cut / n:.1%}) hit the "
                             f"{cell['max_new_tokens']}-token budget without an end token "
                             f"(more than eval.warn_truncated {threshold:.1%}); they are scored "
                             f"on what they wrote; {fix}")
    return lines
