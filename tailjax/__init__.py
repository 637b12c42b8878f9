"""tailjax: TAIL (Turing MAchine Imitation Learning, arXiv 2507.13332) in JAX."""

__version__ = "0.1.0"
