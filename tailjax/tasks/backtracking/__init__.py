"""Backtracking task: palindrome partition (palindrome combination)."""

# One module per task, each registering its task on import, in this order.
from tailjax.tasks.backtracking import palindrome_partition  # noqa: F401
