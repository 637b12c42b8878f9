"""Enumeration tasks: count letters, Diophantine solutions, prime search."""

# One module per task, each registering its task on import, in this order.
from tailjax.tasks.enumeration import count_letters  # noqa: F401
from tailjax.tasks.enumeration import diophantine  # noqa: F401
from tailjax.tasks.enumeration import prime_search  # noqa: F401
