"""Simulation task: bubble_sort.

n distinct integers 0..99, sorted ascending with passes that stop early once a pass makes no
swap; the answer is the sorted list "a, b, c".
Symmetry folded: the order of the numbers (every order of the same numbers has the same answer).
"""

from __future__ import annotations

import random
import re

from tailjax.tasks.registry import Task, register
from tailjax.tasks.trace import Trace


def _bubble_sample(rng: random.Random, n: int) -> dict:
    return {"numbers": rng.sample(range(100), n)}


def _list(xs) -> str:
    return ", ".join(map(str, xs))


def _bubble_solve(inst: dict) -> Trace:
    a = list(inst["numbers"])
    n = len(a)
    tr = Trace()
    passes = []
    for i in range(1, n):
        pairs = n - i
        first = "compare a[0] and a[1] in pass {}".format(i)
        tr.state(f"start pass {i}",
                 fetch={"pass": i, "n": n, **{f"a[{j}]": a[j] for j in range(n)}},
                 compute=f"{n} - {i} = {pairs} pair{'s' if pairs > 1 else ''} to compare",
                 write={"swapped": "no"},
                 goto=first)
        swapped = "no"
        for j in range(pairs):
            x, y = a[j], a[j + 1]
            name = f"compare a[{j}] and a[{j + 1}] in pass {i}"
            nxt = f"compare a[{j + 1}] and a[{j + 2}] in pass {i}" if j + 1 < pairs \
                else f"end pass {i}"
            fetch = {f"a[{j}]": x, f"a[{j + 1}]": y, "swapped": swapped}
            if x > y:
                a[j], a[j + 1] = y, x
                swapped = "yes"
                tr.state(name, fetch=fetch, compute=f"{x} > {y}, swap them",
                         write={f"a[{j}]": y, f"a[{j + 1}]": x, "swapped": "yes"}, goto=nxt,
                         loop=f"comparison of pass {i}")
            else:
                tr.state(name, fetch=fetch, compute=f"{x} < {y}, keep them", goto=nxt,
                         loop=f"comparison of pass {i}")
        passes.append(list(a))
        done = swapped == "no" or i == n - 1
        if swapped == "no":
            why = "swapped = no means the list is sorted"
        elif i == n - 1:
            why = f"swapped = yes but {i} = {n} - 1 passes are done"
        else:
            why = f"swapped = yes and {i} < {n} - 1"
        tr.state(f"end pass {i}", fetch={"swapped": swapped, "pass": i, "n": n}, compute=why,
                 goto="read the sorted list" if done else f"start pass {i + 1}")
        if done:
            break
    tr.state("read the sorted list", fetch={f"a[{j}]": a[j] for j in range(n)},
             write={"sorted": _list(a)})
    tr.note(f"Bubble sort passes over the {n} numbers, swapping neighbours that are out of order, "
            "until a pass makes no swap.")
    tr.note("After each pass the list reads: " + "; then ".join(_list(p) for p in passes) + ".")
    tr.note(f"So the sorted list is {_list(a)}.")
    return tr.finish(_list(a))


def canonical_int_list(text: str) -> str:
    """"[3,1, 2]" -> "3, 1, 2": integers separated by commas, brackets optional."""
    t = text.strip()
    if t[:1] in "[(" and t[-1:] in "])":
        t = t[1:-1]
    items = [s.strip() for s in t.split(",")]
    if not items or not all(re.fullmatch(r"-?\d+", s) for s in items):
        raise ValueError(f"not a comma-separated list of integers: {text!r}")
    return ", ".join(str(int(s)) for s in items)


BUBBLE_TEMPLATES = (
    "Sort the numbers {numbers} in increasing order using bubble sort.",
    "Use bubble sort to arrange [{numbers}] from smallest to largest.",
    "Put these {n} numbers in ascending order: {numbers}.",
    "Sort ascending: {numbers}",
    "Apply bubble sort to the list [{numbers}] and give the sorted list.",
    "A teacher recorded the test scores {numbers}. List them from lowest to highest.",
    "Arrange the following distinct integers in increasing order: {numbers}.",
    "Runners finished with bib numbers {numbers}. Write the bib numbers sorted from smallest to "
    "largest.",
    "Order the values {numbers} from least to greatest.",
    "Given the unsorted array [{numbers}], return it sorted in non-decreasing order.",
    "A warehouse has boxes weighing {numbers} kg. List the weights from lightest to heaviest.",
    "Sort this list with bubble sort, smallest first: {numbers}.",
    "The ages of {n} people are {numbers}. Sort the ages from youngest to oldest.",
    "Rearrange {numbers} so that every number is smaller than the one after it.",
    "Input: [{numbers}]\nTask: sort in ascending order.",
    "A librarian must shelve books with the codes {numbers} in increasing order. What is the "
    "order on the shelf?",
    "What is the list {numbers} after sorting it in increasing order?",
    "Daily temperatures this week were {numbers} degrees. List them from coldest to warmest.",
    "Bubble sort the sequence {numbers} (ascending) and report the result.",
    "Sort the {n} integers {numbers} from the smallest to the largest.",
    "A game shows the player scores {numbers}. Rank them from lowest score to highest score.",
    "Order these house numbers ascending: {numbers}.",
)
# What the scorer requires (Task.answer_rule): an ascending list.
BUBBLE_ANSWER = "Answer with the numbers in ascending order, comma-separated."


def _numbers(inst: dict) -> dict:
    return {"numbers": _list(inst["numbers"]), "n": len(inst["numbers"])}


register(Task(
    name="bubble_sort", paradigm="simulation",
    ranges={"S": (2, 4), "M": (5, 6), "L": (7, 8)},
    sample=_bubble_sample, solve=_bubble_solve, templates=BUBBLE_TEMPLATES, fields=_numbers,
    canonical=canonical_int_list, fold=lambda inst: {"numbers": sorted(inst["numbers"])},
    answer_rule=BUBBLE_ANSWER,
))
