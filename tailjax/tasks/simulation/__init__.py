"""Simulation: the solver simulates the procedure a person runs by hand, step by step."""

# One module per task, each registering its task on import, in this order.
from tailjax.tasks.simulation import addition  # noqa: F401
from tailjax.tasks.simulation import division  # noqa: F401
from tailjax.tasks.simulation import bubble_sort  # noqa: F401
from tailjax.tasks.simulation import word_flip  # noqa: F401
from tailjax.tasks.simulation import compare  # noqa: F401
