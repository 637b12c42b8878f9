"""Divide and conquer: binary search."""

# One module per task, each registering its task on import, in this order.
from tailjax.tasks.divide_and_conquer import binary_search  # noqa: F401
