"""Dynamic-programming task: knapsack.

Instance: n items with weights 1..5 and values 1..20, capacity = half the total weight
(heavier items give more distinct sub-problems: with weights up to 10, a third of the L
traces would pass 32k characters).
Answer: the largest total value of a subset of items whose total weight is <= capacity.
Top-down DP, as in the paper's knapsack example: f(i, c) = the best value from items i..n-1
with capacity c; f(n, c) = 0; f(i, c) = f(i+1, c) when w[i] > c, else
max(f(i+1, c), f(i+1, c - w[i]) + v[i]). The memoised recursion is unrolled into one line of
states: "call f(i,c)" (it checks whether item i fits), the callee's states, then a
"return back to f(i,c)" state that restates the fetched sub-result(s) and combines them.
A call whose value is already in the memo, or a base case f(n, c), is one state
"use f(i,c) in f(caller)" that fetches or writes it (named by its caller, because the same
sub-problem is used by several callers).
Symmetry folded: the order of the items (each item a (weight, value) pair).
"""

from __future__ import annotations

import functools
import random

from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_integer
from tailjax.tasks.trace import Trace


MAX_WEIGHT = 5


def sample_knapsack(rng: random.Random, n: int) -> dict:
    weights = [rng.randint(1, MAX_WEIGHT) for _ in range(n)]
    values = [rng.randint(1, 20) for _ in range(n)]
    return {"weights": weights, "values": values, "capacity": max(1, sum(weights) // 2)}


def solve_knapsack(instance: dict):
    w, v, cap = instance["weights"], instance["values"], instance["capacity"]
    n = len(w)
    memo: dict[tuple[int, int], int] = {}
    tr = Trace()
    tr.note(f"Let f(i, c) be the best value from items i..{n - 1} with capacity c; the answer "
            f"is f(0, {cap}).")

    # The memoised calls form one loop of steps (what the no-atomic ablation merges).
    step = functools.partial(tr.state, loop="call of f")

    def f(i: int, cap_left: int, caller: str) -> int:
        # Base cases and memo hits recur under several callers, so their states name the caller.
        name = f"f({i},{cap_left})"
        if i == n:
            step(f"use {name} in {caller}", fetch={"i": i, "n": n}, compute="no items left",
                 write={name: 0})
            return 0
        if (i, cap_left) in memo:
            step(f"use {name} in {caller}", fetch={name: memo[i, cap_left]},
                 compute="already computed")
            return memo[i, cap_left]
        fits = w[i] <= cap_left
        step(f"call {name}", fetch={f"w[{i}]": w[i], "c": cap_left},
             compute=f"{w[i]} <= {cap_left}, item {i} fits, first skip it" if fits
             else f"{w[i]} > {cap_left}, item {i} does not fit, skip it")
        skip = f(i + 1, cap_left, name)
        skip_name = f"f({i + 1},{cap_left})"
        if not fits:
            step(f"return back to {name}", fetch={skip_name: skip},
                 compute=f"{name} = {skip_name}", write={name: skip})
            memo[i, cap_left] = skip
            return skip
        step(f"return back to {name} from skip", fetch={skip_name: skip},
             compute=f"keep {skip_name} = {skip}, now take item {i}")
        take = f(i + 1, cap_left - w[i], name)
        take_name = f"f({i + 1},{cap_left - w[i]})"
        best = max(skip, take + v[i])
        step(f"return back to {name} from take",
             fetch={skip_name: skip, take_name: take, f"v[{i}]": v[i]},
             compute=f"{take} + {v[i]} = {take + v[i]}, max({skip}, {take + v[i]}) = {best}",
             write={name: best})
        memo[i, cap_left] = best
        return best

    answer = f(0, cap, "the answer")
    tr.note(f"Combining the choices from the last item back to the first gives f(0, {cap}) = "
            f"{answer}.")
    return tr.finish(answer)


def knapsack_items(instance: dict) -> str:
    return ", ".join(f"(weight {wt}, value {val})"
                     for wt, val in zip(instance["weights"], instance["values"]))


KNAPSACK_TEMPLATES = (
    "Items: {items}. Knapsack capacity: {capacity}. What is the maximum total value of items "
    "that fit, each item used at most once?",
    "Solve the 0/1 knapsack problem with capacity {capacity} and items {items}. Give the best "
    "total value.",
    "Given weights {weights} and values {values}, and a capacity of {capacity}, find the "
    "largest total value of a subset whose weight does not exceed the capacity.",
    "0/1 knapsack: weights = {weights}, values = {values}, W = {capacity}. Maximum value?",
    "Choose a subset of the items {items} with total weight at most {capacity} and maximum "
    "total value. What is that value?",
    "With a weight limit of {capacity}, what is the most value you can carry from the items "
    "{items}?",
    "Compute the optimal value of a knapsack of capacity {capacity} over {n} items with "
    "weights {weights} and values {values} (each item taken at most once).",
    "Using top-down dynamic programming, find the maximum value for capacity {capacity} and "
    "items {items}.",
    "There are {n} items, {items}. Pick some so the total weight stays within {capacity}. "
    "What is the highest total value possible?",
    "Find max sum of values subject to sum of weights <= {capacity} for weights {weights} and "
    "values {values}.",
    "What is the answer to the knapsack instance: capacity {capacity}; item weights {weights}; "
    "item values {values}?",
    "A hiker can carry at most {capacity} kg. The available items are {items} (weight in kg). "
    "What is the greatest total value she can pack?",
    "A thief's bag holds {capacity} kg. The loot is {items}. What is the largest total value "
    "he can take?",
    "A cargo drone lifts at most {capacity} units of weight. Parcels {items} are waiting. "
    "Which total value is the most it can deliver in one trip?",
    "A student has {capacity} hours before the exam. Topics take {weights} hours and are worth "
    "{values} points. Studying each topic fully or not at all, what is the best score?",
    "A company has a budget of {capacity} and projects costing {weights} with returns "
    "{values}. Funding each project at most once, what is the largest total return?",
    "A camper's car trunk holds {capacity} units. Gear items are {items}. What is the best "
    "total usefulness she can bring?",
    "A museum can lend out artworks with a total insurance weight of {capacity}. Artworks: "
    "{items}. What is the highest total prestige value of the loan?",
    "A ship can load {capacity} tonnes. Containers are {items}. What is the maximum total "
    "value it can carry?",
    "A chef has {capacity} minutes to prepare dishes. Dishes take {weights} minutes and earn "
    "{values} points from the judges. What is the maximum score?",
    "A gamer's inventory holds a weight of {capacity}. The treasure on the floor is {items}. "
    "What is the most valuable haul?",
    "An astronaut may bring {capacity} kg of experiments. Experiments are {items} (value = "
    "scientific merit). What is the greatest total merit?",
)


def fold_knapsack(instance: dict) -> dict:
    """The items sorted by (weight, value): their order does not change the answer."""
    items = sorted(zip(instance["weights"], instance["values"]))
    return {**instance, "weights": [w for w, _ in items], "values": [v for _, v in items]}


def knapsack_fields(instance: dict) -> dict:
    return {"items": knapsack_items(instance), "capacity": instance["capacity"],
            "weights": ", ".join(map(str, instance["weights"])),
            "values": ", ".join(map(str, instance["values"])), "n": len(instance["weights"])}


register(Task(
    name="knapsack",
    paradigm="dynamic programming",
    ranges={"S": (2, 3), "M": (4, 5), "L": (6, 8)},
    sample=sample_knapsack,
    solve=solve_knapsack,
    templates=KNAPSACK_TEMPLATES,
    fields=knapsack_fields,
    canonical=canonical_integer,
    fold=fold_knapsack,
))
