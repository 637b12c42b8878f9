"""Enumeration task: diophantine.

Instance: a, b in 1..10 and n. Answer: every non-negative integer solution (x1, x2) of
a*x1 + b*x2 = n, written "(x1,x2),(x1,x2),..." in increasing x1, or "none"; scoring ignores
the order. Enumeration: x1 = 0, 1, ..., n // a, one state each: the rest r = n - a*x1 is
obtained from the previous rest by one subtraction, then r mod b decides; when it is 0,
x2 = r / b.
Symmetry folded: none (swapping a and b swaps every solution pair).
"""

from __future__ import annotations

import random

from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_pairs
from tailjax.tasks.trace import Trace


def sample_diophantine(rng: random.Random, n: int) -> dict:
    return {"a": rng.randint(1, 10), "b": rng.randint(1, 10), "n": n}


def solve_diophantine(instance: dict):
    a, b, n = instance["a"], instance["b"], instance["n"]
    tr = Trace()
    tr.note(f"Try every x1 from 0 to {n} // {a} = {n // a} and check whether the rest "
            f"{n} - {a}*x1 is divisible by {b}.")
    found = []
    rest = n
    for x1 in range(n // a + 1):
        if x1 == 0:
            fetch, sub = {"n": n}, f"r = {n}"
        else:
            fetch, sub = {"r": rest, "a": a}, f"{rest} - {a} = {rest - a}"
            rest -= a
        m = rest % b
        if m == 0:
            x2 = rest // b
            found.append((x1, x2))
            compute = f"{sub}, {rest} mod {b} = 0, {rest} / {b} = {x2}"
            write = {"r": rest, "solution": f"({x1},{x2})"}
        else:
            compute, write = f"{sub}, {rest} mod {b} = {m}", {"r": rest}
        tr.state(f"try x1 = {x1}", fetch=fetch, compute=compute, write=write, loop="x1")
    answer = ",".join(f"({x1},{x2})" for x1, x2 in found) or "none"
    tr.state("collect solutions", fetch={"solutions": answer},
             compute=f"{n // a + 1} values of x1 tried, {len(found)} solutions found")
    tr.note(f"The solutions are {answer}.")
    return tr.finish(answer)


DIOPHANTINE_TEMPLATES = (
    "Find all non-negative integer solutions (x1, x2) of {a}*x1 + {b}*x2 = {n}.",
    "List every pair of non-negative integers (x1, x2) with {a}x1 + {b}x2 = {n}.",
    "Solve {a}*x1 + {b}*x2 = {n} over the non-negative integers. Give all solutions as "
    "(x1,x2) pairs, or none.",
    "Enumerate the non-negative solutions of the linear Diophantine equation {a}x + {b}y = {n}, "
    "written (x,y).",
    "Which pairs (x1, x2) of natural numbers (0 included) satisfy {a} x1 + {b} x2 = {n}?",
    "For a = {a}, b = {b} and n = {n}, find all (x1, x2) >= 0 with a*x1 + b*x2 = n.",
    "Give the complete set of non-negative integer pairs solving {a}*x1 + {b}*x2 = {n}.",
    "Determine all ways to write {n} as {a} times x1 plus {b} times x2 with x1, x2 >= 0.",
    "How can {n} be expressed as {a}*x1 + {b}*x2 with non-negative integers? List every "
    "(x1,x2).",
    "Equation: {a}x1 + {b}x2 = {n}, x1, x2 non-negative integers. All solutions?",
    "List all (x1,x2) in increasing x1 such that {a}*x1 + {b}*x2 equals {n}, x1 and x2 "
    "non-negative.",
    "A shop sells pencils at {a} cents and erasers at {b} cents. In which ways can exactly "
    "{n} cents be spent? Give (pencils, erasers) pairs.",
    "A postal clerk has stamps worth {a} and {b}. List every (number of {a}-stamps, number of "
    "{b}-stamps) that makes a postage of exactly {n}.",
    "A carpenter cuts boards of {a} m and {b} m from a {n} m beam with no waste. List all "
    "(count of {a} m boards, count of {b} m boards).",
    "A runner trains with laps of {a} km and {b} km and wants exactly {n} km. Which (short "
    "laps, long laps) combinations work? List them as (x1,x2).",
    "A vending machine takes coins worth {a} and {b}. List all ways, as (coins of {a}, coins "
    "of {b}), to insert exactly {n}.",
    "A bus holds {a} people and a van holds {b}. To move exactly {n} people in full vehicles, "
    "which (buses, vans) counts are possible?",
    "A chemist mixes doses of {a} ml and {b} ml to get exactly {n} ml. List every (doses of "
    "{a} ml, doses of {b} ml).",
    "Tiles of length {a} and {b} must cover a {n} cm strip exactly. List every (tiles of {a}, "
    "tiles of {b}) combination.",
    "A game awards {a} points per goal and {b} points per bonus. A team scored exactly {n} "
    "points; list every possible (goals, bonuses).",
    "A farmer packs eggs in boxes of {a} and {b} and has {n} eggs. List all ways (boxes of "
    "{a}, boxes of {b}) to pack them with none left over.",
    "A cinema sells tickets at {a} and {b} dollars and took in exactly {n} dollars. List all "
    "(cheap tickets, expensive tickets) counts.",
)
# What the scorer requires (Task.answer_rule): pairs, or none.
DIOPHANTINE_ANSWER = ("Answer with each solution as a pair in parentheses, the unknown multiplied "
                      "by {a} first, e.g. (1,3), comma-separated (in any order), or none if there "
                      "is none.")


def diophantine_fields(instance: dict) -> dict:
    return dict(instance)


register(Task(
    name="diophantine",
    paradigm="enumeration",
    ranges={"S": (10, 50), "M": (51, 100), "L": (101, 200)},
    sample=sample_diophantine,
    solve=solve_diophantine,
    templates=DIOPHANTINE_TEMPLATES,
    fields=diophantine_fields,
    canonical=canonical_pairs,
    answer_rule=DIOPHANTINE_ANSWER,
))
