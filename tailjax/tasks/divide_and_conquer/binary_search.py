"""Divide-and-conquer task: binary_search.

Instance: n distinct increasing integers (1..999) and a target drawn from them; the answer is
the target's 0-based index. The solver halves [lo, hi] with two atomic states per step: the
middle index, then the comparison of a[mid] with the target that moves lo or hi.
Symmetry folded: none (the numbers are sorted and the answer is a position in them).
"""

from __future__ import annotations

import random

from tailjax.tasks.registry import Task, register
from tailjax.tasks.trace import Trace


def _sample(rng: random.Random, n: int) -> dict:
    numbers = sorted(rng.sample(range(1, 1000), n))
    return {"numbers": numbers, "target": rng.choice(numbers)}


def _solve(inst: dict) -> Trace:
    a, target = inst["numbers"], inst["target"]
    tr = Trace()
    lo, hi, step = 0, len(a) - 1, 1
    tr.state("start the search", fetch={"target": target, "n": len(a)},
             compute=f"hi = {len(a)} - 1 = {hi}", write={"lo": lo, "hi": hi},
             goto="find the middle in step 1")
    mids = []
    while True:
        mid = (lo + hi) // 2
        mids.append(mid)
        cmp = f"compare a[{mid}] with the target in step {step}"
        tr.state(f"find the middle in step {step}", fetch={"lo": lo, "hi": hi},
                 compute=f"({lo} + {hi}) // 2 = {mid}", write={"mid": mid}, goto=cmp,
                 loop="halving step")
        fetch = {f"a[{mid}]": a[mid], "target": target, "mid": mid}
        nxt = f"find the middle in step {step + 1}"
        if a[mid] == target:
            tr.state(cmp, fetch=fetch, compute=f"{a[mid]} = {target}",
                     write={"index": mid}, loop="halving step")
            break
        if a[mid] < target:
            lo = mid + 1
            tr.state(cmp, fetch=fetch, compute=f"{a[mid]} < {target} and {mid} + 1 = {lo}",
                     write={"lo": lo}, goto=nxt, loop="halving step")
        else:
            hi = mid - 1
            tr.state(cmp, fetch=fetch, compute=f"{a[mid]} > {target} and {mid} - 1 = {hi}",
                     write={"hi": hi}, goto=nxt, loop="halving step")
        step += 1
    tr.note(f"We search for {target} in the {len(a)} sorted numbers by repeatedly halving the "
            f"range of indices that can still hold it, starting from 0 to {len(a) - 1}.")
    tr.note("The middle indices we check are " + ", ".join(map(str, mids)) + ".")
    tr.note(f"The number at index {mids[-1]} is {target}.")
    return tr.finish(mids[-1])


def _canonical_int(text: str) -> str:
    t = text.strip()
    if not t.lstrip("+-").isdigit() or not t.isascii():
        raise ValueError(f"not an integer: {text!r}")
    return str(int(t))


def _fields(inst: dict) -> dict:
    return {"numbers": ", ".join(map(str, inst["numbers"])), "target": inst["target"],
            "n": len(inst["numbers"])}


TEMPLATES = (
    "Find the 0-based index of {target} in the sorted list [{numbers}] using binary search.",
    "The list [{numbers}] is sorted in increasing order. At which index (counting from 0) does "
    "{target} appear?",
    "Use binary search to locate {target} in this increasing sequence of {n} numbers: {numbers}. "
    "Give its zero-based position.",
    "Sorted array: {numbers}\nTarget: {target}\nReturn the index of the target (0-based).",
    "A librarian keeps {n} books on a shelf ordered by catalogue number: {numbers}. Counting the "
    "first book as position 0, at which position is the book numbered {target}?",
    "Given the ascending numbers {numbers}, report the position of {target}, where the first "
    "number has position 0.",
    "Binary search task. Array (increasing): [{numbers}]. Value to find: {target}. Output the "
    "0-indexed position.",
    "The seats in a stadium row carry the increasing ticket numbers {numbers}. Seats are counted "
    "from 0. Which seat holds ticket {target}?",
    "Where is {target} in the sorted list {numbers}? Answer with its index, starting from 0.",
    "Here are {n} numbers in increasing order: {numbers}. Using binary search, find the index "
    "of {target} (the first element has index 0).",
    "A warehouse lists its bins by increasing code: {numbers}. Bin positions start at 0. What "
    "position does the bin with code {target} have?",
    "In the increasing sequence a = [{numbers}], find i such that a[i] = {target} (0-based).",
    "Look up {target} in the ascending list [{numbers}] with binary search and give its "
    "0-based index.",
    "A phone book sorted by extension lists {numbers}. Counting entries from 0, which entry is "
    "extension {target}?",
    "Sorted input: {numbers}. Query: {target}. What is the zero-based index of the query?",
    "Runners finished a race with these increasing bib numbers recorded in order: {numbers}. "
    "Counting from 0, at which place in the list does bib {target} appear?",
    "Perform a binary search for {target} over the sorted values [{numbers}] and state the "
    "index where it is found (indices begin at 0).",
    "The heights in centimetres of {n} plants, sorted from shortest to tallest, are {numbers}. "
    "Counting from 0, which position has the plant of height {target}?",
    "Return the index of {target} in the sorted array [{numbers}]. Use 0-based indexing.",
    "A train timetable lists departure codes in increasing order: {numbers}. If the first code "
    "is at position 0, what is the position of code {target}?",
    "Given sorted numbers {numbers}, find the 0-based index of the element equal to {target}.",
    "Houses on a street have increasing house numbers {numbers}; the first house is house 0 in "
    "the list. Which list position does number {target} have?",
)
# What the scorer requires (Task.answer_rule): positions count from 0.
INDEX_ANSWER = "Answer with its 0-based index."

register(Task(
    name="binary_search",
    paradigm="divide and conquer",
    ranges={"S": (5, 20), "M": (21, 40), "L": (41, 70)},
    sample=_sample,
    solve=_solve,
    templates=TEMPLATES,
    fields=_fields,
    canonical=_canonical_int,
    answer_rule=INDEX_ANSWER,
))
