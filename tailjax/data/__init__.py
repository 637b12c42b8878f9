"""TAIL data: JSONL records and test sets (records.py), the `python -m tailjax.data` CLI
(__main__.py) and the grain training pipeline (pipeline.py).

Kept light on purpose: importing `tailjax.data` pulls in neither jax nor grain.
"""
