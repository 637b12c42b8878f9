"""The columns of the arithmetic simulations: numbers lined up on their decimal points.

Shared by addition, division and compare: the plain place notation (`PlainPlaces`, the
paper's: a place is its number), padding an operand over a span of places, reading digits
back, and the first state of addition and comparison (`_align`). The underscored names are
the simulation tasks' own helpers, not the package's API.
"""

from __future__ import annotations

from tailjax.tasks.numbers import place_range, places
from tailjax.tasks.trace import Trace


def _padded(x: str, hi: int, lo: int) -> str:
    """x written over places hi..lo with zeros filled in (the decimal point kept when lo < 0)."""
    p = places(x)
    whole = "".join(p.get(i, "0") for i in range(hi, -1, -1))
    frac = "".join(p.get(i, "0") for i in range(-1, lo - 1, -1))
    return whole + ("." + frac if frac else "")


def _read_digits(digits: dict[int, int]) -> str:
    """The digits high to low with the decimal point, as written (zeros kept)."""
    hi, lo = max(digits), min(digits)
    whole = "".join(str(digits[p]) for p in range(hi, -1, -1))
    frac = "".join(str(digits[p]) for p in range(-1, lo - 1, -1))
    return whole + ("." + frac if frac else "")


class PlainPlaces:
    """The paper's notation: a place is its number (x1[0] is the units digit of x1), numbers are
    written as they are."""

    def place(self, p: int, operand: str = "x1") -> str:
        return str(p)

    def number(self, x: str, operand: str = "x1") -> str:
        return x

    def restate(self, x: str, operand: str = "x1") -> str:
        return x

    def digit(self, operand: str, p: int, d) -> tuple[str, str]:
        """The (label, value) pair of a fetched or written digit: ("x1[3]", "7")."""
        return f"{operand}[{p}]", str(d)


PLAIN = PlainPlaces()


def _align(tr: Trace, inst: dict, goto, nt=PLAIN, **extra):
    """The first state of addition and comparison: line the operands up on their decimal points
    (places hi down to lo, lo <= 0). `goto(hi, lo)` names the next state; returns
    (x1, x2, hi, lo)."""
    x1, x2 = inst["x1"], inst["x2"]
    hi, lo = place_range(x1, x2)
    lo = min(lo, 0)
    tr.state("align the decimal points",
             fetch={"x1": nt.restate(x1, "x1"), "x2": nt.restate(x2, "x2")},
             compute=f"the places run from {nt.place(hi)} down to {nt.place(lo)}",
             write={"x1": nt.restate(_padded(x1, hi, lo), "x1"),
                    "x2": nt.restate(_padded(x2, hi, lo), "x2"), **extra},
             goto=goto(hi, lo))
    return x1, x2, hi, lo


def operand_fields(inst: dict) -> dict:
    """The template fields of a two-operand task: x1 and x2 as written."""
    return {"x1": inst["x1"], "x2": inst["x2"]}
