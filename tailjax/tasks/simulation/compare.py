"""Simulation task: compare.

x1 vs x2, each n digits with a decimal point allowed; the answer is the larger number. Half of
the pairs share a prefix so that the deciding place is anywhere.
Symmetry folded: the operands' order (the larger of x1, x2 is the larger of x2, x1).
"""

from __future__ import annotations

import random

from tailjax.tasks.numbers import places, sample_decimal
from tailjax.tasks.registry import Task, register, sorted_pair
from tailjax.tasks.scoring import canonical_decimal
from tailjax.tasks.simulation.columns import _align, operand_fields
from tailjax.tasks.trace import Trace


def _cmp_sample(rng: random.Random, n: int) -> dict:
    x1 = sample_decimal(rng, n)
    while True:
        if rng.random() < 0.5:
            x2 = _near(rng, x1)
        else:
            x2 = sample_decimal(rng, n)
        if x2 != x1:
            return {"x1": x1, "x2": x2}


def _near(rng: random.Random, x: str) -> str:
    """A number with x's digit count and point, equal to x on a random prefix of its digits."""
    ds = [c for c in x if c != "."]
    n = len(ds)
    k = rng.randint(0, n - 1)
    has_point = "." in x
    out = ds[:k]
    for i in range(k, n):
        low = 1 if i == 0 or (has_point and i == n - 1) else 0
        choices = [str(v) for v in range(low, 10) if i != k or str(v) != ds[k]]
        out.append(rng.choice(choices) if choices else ds[i])
    cut = x.find(".")
    return "".join(out) if cut < 0 else "".join(out[:cut]) + "." + "".join(out[cut:])


def _cmp_solve(inst: dict) -> Trace:
    tr = Trace()
    x1, x2, hi, lo = _align(tr, inst, lambda hi, lo: f"compare the digits at place {hi}")
    p1, p2 = places(x1), places(x2)
    for p in range(hi, lo - 1, -1):
        a, b = int(p1.get(p, "0")), int(p2.get(p, "0"))
        name = f"compare the digits at place {p}"
        fetch = {f"x1[{p}]": a, f"x2[{p}]": b}
        if a == b:
            tr.state(name, fetch=fetch, compute=f"{a} = {b}",
                     goto=f"compare the digits at place {p - 1}", loop="place")
            continue
        larger = "x1" if a > b else "x2"
        tr.state(name, fetch=fetch, compute=f"{a} {'>' if a > b else '<'} {b}",
                 write={"larger": larger}, goto="name the larger number", loop="place")
        break
    else:
        raise ValueError(f"compare instance has equal numbers: {x1} and {x2}")
    answer = x1 if larger == "x1" else x2
    tr.state("name the larger number", fetch={"larger": larger, larger: answer},
             write={"answer": answer})
    tr.note(f"We line up {x1} and {x2} at the decimal point and compare them place by place "
            "from the left.")
    tr.note(f"They first differ at place {p}, where {larger} has the larger digit ({max(a, b)} "
            f"against {min(a, b)}).")
    tr.note(f"So the larger number is {answer}.")
    return tr.finish(answer)


CMP_TEMPLATES = (
    "Which is larger, {x1} or {x2}? Answer with the larger number.",
    "Compare {x1} and {x2} and give the bigger one.",
    "Which number is greater: {x1} or {x2}?",
    "Return the maximum of {x1} and {x2}.",
    "Of the two numbers {x1} and {x2}, write down the larger.",
    "Two bids were placed at an auction: {x1} and {x2}. Which bid wins (the higher one)?",
    "max({x1}, {x2}) = ?",
    "Two mountains are {x1} and {x2} metres high. What is the height of the taller one?",
    "Find the larger value among {x1} and {x2}.",
    "A scientist measured {x1} and {x2} in two experiments. Report the larger measurement.",
    "Which of these is bigger? A: {x1}  B: {x2}. Write the bigger number.",
    "Two stores offer prices of {x1} and {x2} for the same service. Which price is higher?",
    "Determine which is greater, {x1} or {x2}, and state that number.",
    "x = {x1}, y = {x2}. Which of x and y is larger? Give its value.",
    "Two athletes threw the javelin {x1} and {x2} metres. How far was the longer throw?",
    "Compare the numbers below and output the larger one.\n{x1}\n{x2}",
    "Pick the greater of {x1} and {x2}.",
    "Two cities have populations recorded as {x1} and {x2}. What is the larger figure?",
    "Between {x1} and {x2}, which number has the larger value?",
    "A sensor logged {x1} and then {x2}. What was the higher reading?",
    "Identify the larger of the numbers {x1} and {x2}.",
    "Two savings accounts hold {x1} and {x2} dollars. How much does the richer account hold?",
)


register(Task(
    name="compare", paradigm="simulation",
    ranges={"S": (5, 10), "M": (11, 20), "L": (21, 50)},
    sample=_cmp_sample, solve=_cmp_solve, templates=CMP_TEMPLATES, fields=operand_fields,
    canonical=canonical_decimal, fold=sorted_pair("x1", "x2"),
))
