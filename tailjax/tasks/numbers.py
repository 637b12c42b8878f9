"""Decimal numbers as digit strings: sampling and place-value digits (the canonical form is
scoring.canonical_decimal).

The arithmetic tasks never go through floats: operands and answers are strings of digits with at
most one decimal point, and a digit is addressed by its place p (its value is digit * 10**p: p=0
the units, p=-1 the tenths), the same label in both operands.
"""

from __future__ import annotations

import random

from tailjax.tasks.scoring import canonical_decimal


def sample_decimal(rng: random.Random, digits: int, point: bool | None = None) -> str:
    """A number of exactly `digits` significant digits: first digit nonzero, a decimal point
    (with probability 1/2 when `point` is None) at a random inner position, and then the last
    digit nonzero so the string is already canonical."""
    ds = [str(rng.randint(1, 9))] + [str(rng.randint(0, 9)) for _ in range(digits - 1)]
    if point is None:
        point = digits > 1 and rng.random() < 0.5
    if not point or digits < 2:
        return "".join(ds)
    if ds[-1] == "0":
        ds[-1] = str(rng.randint(1, 9))
    cut = rng.randint(1, digits - 1)
    return "".join(ds[:cut]) + "." + "".join(ds[cut:])


def places(x: str) -> dict[int, str]:
    """Digit of `x` at each place: places("12.5") == {1: "1", 0: "2", -1: "5"}."""
    whole, _, frac = x.partition(".")
    out = {len(whole) - 1 - i: d for i, d in enumerate(whole)}
    out.update({-1 - i: d for i, d in enumerate(frac)})
    return out


def place_range(*numbers: str) -> tuple[int, int]:
    """(highest, lowest) place present in any of the numbers."""
    ps = [p for x in numbers for p in places(x)]
    return max(ps), min(ps)


def from_places(digits: dict[int, int | str]) -> str:
    """The canonical number with these place digits (missing places are 0)."""
    hi, lo = max(max(digits), 0), min(min(digits), 0)
    whole = "".join(str(digits.get(p, 0)) for p in range(hi, -1, -1))
    frac = "".join(str(digits.get(p, 0)) for p in range(-1, lo - 1, -1))
    return canonical_decimal(whole + ("." + frac if frac else ""))


def count_digits(x: str) -> int:
    return sum(c.isdigit() for c in x)
