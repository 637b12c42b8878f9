"""Greedy tasks: Dijkstra shortest paths, multi-machine scheduling."""

# One module per task, each registering its task on import, in this order.
from tailjax.tasks.greedy import dijkstra  # noqa: F401
from tailjax.tasks.greedy import machine_schedule  # noqa: F401
