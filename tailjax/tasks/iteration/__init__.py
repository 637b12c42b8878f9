"""Iteration task: population growth."""

# One module per task, each registering its task on import, in this order.
from tailjax.tasks.iteration import population_growth  # noqa: F401
