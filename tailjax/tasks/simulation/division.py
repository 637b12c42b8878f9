"""Simulation task: division.

x1 / x2, the dividend n digits and the divisor 1 or 2 digits, each with a decimal point allowed.
Precision rule: the answer is the quotient TRUNCATED toward zero to 3 decimal places
(floor(1000 * x1 / x2) / 1000, trailing zeros dropped), which is exact: it is what long division
gives when stopped at the thousandths. The divisor stays short so each long division step (one
quotient digit) is one elementary computation.
Symmetry folded: none.
"""

from __future__ import annotations

import random

from tailjax.tasks.numbers import places, sample_decimal
from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_decimal
from tailjax.tasks.simulation.columns import _read_digits, operand_fields
from tailjax.tasks.trace import Trace


DIV_PRECISION = 3  # decimal places kept, by truncation


def _div_sample(rng: random.Random, n: int) -> dict:
    return {"x1": sample_decimal(rng, n), "x2": sample_decimal(rng, rng.randint(1, 2))}


def _shift(x: str, k: int) -> str:
    """x * 10**k for k >= 0, as a digit string."""
    whole, _, frac = x.partition(".")
    frac = frac + "0" * max(0, k - len(frac))
    whole, frac = whole + frac[:k], frac[k:]
    return canonical_decimal(whole + ("." + frac if frac else ""))


def _div_solve(inst: dict) -> Trace:
    x1, x2 = inst["x1"], inst["x2"]
    f2 = len(x2.partition(".")[2])
    dividend, divisor = _shift(x1, f2), int(x2.replace(".", ""))
    tr = Trace()
    d = places(dividend)
    hi, lo = max(d), -DIV_PRECISION
    shift = f"{x2} has {f2} decimal place{'' if f2 == 1 else 's'}"
    tr.state("shift the decimal points", fetch={"x1": x1, "x2": x2}, compute=shift,
             write={"dividend": dividend, "divisor": divisor, "r": 0},
             goto=f"divide at place {hi}")
    r, q = 0, {}
    for p in range(hi, lo - 1, -1):
        digit = int(d.get(p, "0"))
        c = 10 * r + digit
        q[p], r2 = divmod(c, divisor)
        tr.state(f"divide at place {p}", fetch={"r": r, f"d[{p}]": digit, "divisor": divisor},
                 compute=f"10 * {r} + {digit} = {c}, and {c} = {q[p]} * {divisor} + {r2}",
                 write={f"q[{p}]": q[p], "r": r2},
                 goto=f"divide at place {p - 1}" if p > lo else "read the quotient",
                 loop="place")
        r = r2
    raw = _read_digits(q)
    answer = canonical_decimal(raw)
    tr.state("read the quotient", fetch={f"q[{p}]": q[p] for p in sorted(q, reverse=True)},
             compute=f"the digits read {raw}", write={"quotient": answer})
    tr.note(f"Moving both decimal points {f2} place{'' if f2 == 1 else 's'} makes the divisor "
            "whole: "
            f"{x1} / {x2} = {dividend} / {divisor}.")
    tr.note(f"Long division, one digit at a time down to the thousandths, gives the digits {raw}, "
            f"with remainder {r} left over.")
    tr.note(f"Truncated to {DIV_PRECISION} decimal places, {x1} / {x2} = {answer}.")
    return tr.finish(answer)


_TRUNC = "truncated (not rounded) to 3 decimal places"
DIV_TEMPLATES = (
    "What is {x1} / {x2}? Give the quotient " + _TRUNC + ".",
    "Divide {x1} by {x2} and report the result " + _TRUNC + ".",
    "Compute {x1} divided by {x2}, " + _TRUNC + ".",
    "{x1} / {x2} = ? (quotient " + _TRUNC + ")",
    "Find the quotient of {x1} and {x2}, " + _TRUNC + ".",
    "A rope {x1} metres long is cut into pieces of {x2} metres. How many pieces is that, as a "
    "number " + _TRUNC + "?",
    "A family splits a bill of {x1} dollars into shares of {x2} dollars. How many shares is "
    "that? Answer " + _TRUNC + ".",
    "A car used {x2} litres of fuel per kilometre and {x1} litres in all. How many kilometres "
    "did it drive? Give the number " + _TRUNC + ".",
    "Calculate the ratio {x1} : {x2} as a decimal " + _TRUNC + ".",
    "How many times does {x2} go into {x1}? Answer with the quotient " + _TRUNC + ".",
    "A baker has {x1} kg of flour and each loaf needs {x2} kg. How many loaves is that, "
    + _TRUNC + "?",
    "Evaluate {x1} / {x2}. Keep 3 decimal places and drop the rest (truncate, do not round).",
    "Divide: dividend {x1}, divisor {x2}. Report the quotient " + _TRUNC + ".",
    "A tank of {x1} litres drains at {x2} litres per minute. How many minutes until it is "
    "empty? Answer " + _TRUNC + ".",
    "What is the result of dividing {x1} by {x2}? Write it " + _TRUNC + ".",
    "Share {x1} equally into parts of size {x2}. How many parts? Give the value " + _TRUNC + ".",
    "A runner covers {x1} km at {x2} km per hour. How many hours does it take? Answer "
    + _TRUNC + ".",
    "Give {x1} / {x2} as a decimal number " + _TRUNC + ".",
    "A printer prints {x2} pages per second. How many seconds for {x1} pages? Answer "
    + _TRUNC + ".",
    "x = {x1} and y = {x2}. What is x / y, " + _TRUNC + "?",
    "Work out the long division {x1} / {x2} down to the thousandths and report the quotient "
    "(truncate after 3 decimal places).",
    "An investor splits {x1} dollars into lots of {x2} dollars each. How many lots is that? "
    "Give the number " + _TRUNC + ".",
)


register(Task(
    name="division", paradigm="simulation",
    ranges={"S": (2, 5), "M": (6, 10), "L": (11, 20)},
    sample=_div_sample, solve=_div_solve, templates=DIV_TEMPLATES, fields=operand_fields,
    canonical=canonical_decimal,
))
