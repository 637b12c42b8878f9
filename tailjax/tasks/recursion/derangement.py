"""Recursion task: derangement.

Instance: n. Answer: D(n), the number of permutations of n elements with no fixed point, as
an exact integer. Recursion: D(1) = 0 and D(k) = k * D(k-1) + (-1)^k, unrolled as the chain of
calls down to the base case, then one "return back to D(k)" state per level that restates
D(k-1) and computes D(k). (This single-call recurrence keeps the trace linear in n; the
two-term one, (k-1)(D(k-1) + D(k-2)), would restate two big numbers per level.) The product of
a big integer by k is one elementary step.
Symmetry folded: none (the instance is n alone).
"""

from __future__ import annotations

import random

from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_integer
from tailjax.tasks.trace import Trace


def sample_derangement(rng: random.Random, n: int) -> dict:
    return {"n": n}


def solve_derangement(instance: dict):
    n = instance["n"]
    tr = Trace()
    for k in range(n, 1, -1):
        tr.state(f"call D({k})", fetch={"k": k}, compute=f"{k} > 1, D({k}) needs D({k - 1})",
                 loop="call")
    tr.state("call D(1)", fetch={"k": 1}, compute="1 = 1, base case", write={"D(1)": 0})
    tr.note(f"Use D(1) = 0 and D(k) = k * D(k-1) + (-1)^k, for k from 2 up to {n}.")
    d = 0
    for k in range(2, n + 1):
        sign = 1 if k % 2 == 0 else -1
        new = k * d + sign
        op = "+" if sign > 0 else "-"
        # The product is named, not spelled out, so each big number is written once per state.
        tr.state(f"return back to D({k})", fetch={"k": k, f"D({k - 1})": d},
                 compute=f"{k} * D({k - 1}) {op} 1", write={f"D({k})": new}, loop="return")
        if k in (2, 3, n // 2, n - 1):
            tr.note(f"D({k}) = {new}.")
        d = new
    tr.note(f"D({n}) = {d}.")
    return tr.finish(d)


DERANGEMENT_TEMPLATES = (
    "How many derangements of {n} elements are there?",
    "Compute the number of permutations of {n} objects with no fixed point.",
    "Find D({n}), the number of derangements of a set of size {n}.",
    "Count the permutations p of 1..{n} with p(i) != i for every i.",
    "What is the subfactorial !{n}?",
    "In how many ways can {n} items be rearranged so that none stays in its original place?",
    "Give the exact number of derangements of {n} distinct elements.",
    "Calculate the derangement number for n = {n}.",
    "Let D(n) count fixed-point-free permutations of n elements. Evaluate D({n}).",
    "Determine the number of ways to permute {n} labelled balls so that no ball returns to its "
    "own box.",
    "Using the recursion D(n) = n * D(n-1) + (-1)^n with D(1) = 0, find D({n}).",
    "Compute !{n} exactly.",
    "{n} guests check their coats at a party. In how many ways can the coats be handed back so "
    "that no guest receives their own coat?",
    "A teacher returns {n} graded exams so that every student grades someone else's exam. "
    "How many ways are there to hand out the exams?",
    "In a secret-santa draw with {n} people, nobody may draw their own name. How many valid "
    "draws are there?",
    "{n} letters are put into {n} addressed envelopes at random. In how many ways can every "
    "letter end up in a wrong envelope?",
    "A hotel has {n} guests and {n} rooms, each guest with an assigned room. After a fire "
    "drill every guest goes to a room that is not their own, one guest per room. How many "
    "arrangements are possible?",
    "At a dance, {n} couples split up and each person dances with someone other than their "
    "partner, pairing men and women. How many such pairings exist?",
    "{n} hats are returned to {n} people so that nobody gets their own hat. Count the ways.",
    "A shuffle of a {n}-card deck leaves no card in its original position. How many such "
    "shuffles are there?",
    "Each of {n} runners is assigned a new lane, and no runner may keep their old lane. How "
    "many lane assignments are possible?",
    "{n} employees swap desks so that everyone moves. How many seating plans satisfy this?",
)


def derangement_fields(instance: dict) -> dict:
    return {"n": instance["n"]}


register(Task(
    name="derangement",
    paradigm="recursion",
    ranges={"S": (3, 30), "M": (31, 60), "L": (61, 100)},
    sample=sample_derangement,
    solve=solve_derangement,
    templates=DERANGEMENT_TEMPLATES,
    fields=derangement_fields,
    canonical=canonical_integer,
))
