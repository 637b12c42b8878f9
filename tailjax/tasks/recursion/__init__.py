"""Recursion tasks: any substring, derangement."""

# One module per task, each registering its task on import, in this order.
from tailjax.tasks.recursion import any_substring  # noqa: F401
from tailjax.tasks.recursion import derangement  # noqa: F401
