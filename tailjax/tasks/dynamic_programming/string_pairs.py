"""The instances of lcs and levenshtein: two strings over a small alphabet, the second one's
length drawn from the split range that holds the first one's.
"""

from __future__ import annotations

import random


STRING_LETTERS = "abcd"


def sample_string_pair(rng: random.Random, n: int, split_range: tuple[int, int]) -> dict:
    """Strings a of length n and b of a length drawn from `split_range`, over STRING_LETTERS."""
    m = rng.randint(*split_range)
    pick = lambda k: "".join(rng.choice(STRING_LETTERS) for _ in range(k))  # noqa: E731
    return {"a": pick(n), "b": pick(m)}


def range_holding(ranges: dict, n: int) -> tuple[int, int]:
    """The split range holding n, so the second string has a length of the same split."""
    for lo, hi in ranges.values():
        if lo <= n <= hi:
            return lo, hi
    return n, n


def string_pair_fields(instance: dict) -> dict:
    """The template fields: the strings a and b."""
    return {"a": instance["a"], "b": instance["b"]}
