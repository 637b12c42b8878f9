"""Dynamic-programming tasks: 0/1 knapsack (top-down), LCS, Levenshtein distance."""

# One module per task, each registering its task on import, in this order.
from tailjax.tasks.dynamic_programming import knapsack  # noqa: F401
from tailjax.tasks.dynamic_programming import lcs  # noqa: F401
from tailjax.tasks.dynamic_programming import levenshtein  # noqa: F401
