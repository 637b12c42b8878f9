"""Iteration task: population_growth.

Instance: n units of time, maturity x (0 <= x < n), y initial pairs, z offspring. At unit 0
there are y newborn pairs. A pair born at unit b produces z new pairs at every unit t with
t > b + x, i.e. once it has lived x full units (so the initial pairs first reproduce at unit
x + 1, and x = 1, z = 1, y = 1 gives the Fibonacci numbers). No pair dies. Answer: the total
number of pairs after unit n, an exact integer.
Iteration: P(0) = y and, for t = 1..n, P(t) = P(t-1) + z * P(t-1-x) when t-1-x >= 0 (the
pairs alive at unit t-1-x are exactly those old enough to reproduce at t), else P(t-1). One
state per unit fetches P(t-1), P(t-1-x) and z.
Symmetry folded: none (n, x, y and z each play their own part).
"""

from __future__ import annotations

import random

from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_integer
from tailjax.tasks.trace import Trace


def sample_population(rng: random.Random, n: int) -> dict:
    return {"n": n, "x": rng.randint(0, n - 1), "y": rng.randint(1, 9), "z": rng.randint(1, 3)}


def solve_population(instance: dict):
    n, x, y, z = instance["n"], instance["x"], instance["y"], instance["z"]
    tr = Trace()
    tr.note(f"Start with {y} pairs. A pair reproduces once it has lived {x} full units, adding "
            f"{z} pairs per unit, so P(t) = P(t-1) + {z} * P(t-1-{x}).")
    tr.state("start at unit 0", fetch={"y": y}, write={"P(0)": y})
    p = [y]
    for t in range(1, n + 1):
        back = t - 1 - x
        if back >= 0:
            new = p[t - 1] + z * p[back]
            tr.state(f"compute unit {t}",
                     fetch={f"P({t - 1})": p[t - 1], f"P({back})": p[back], "z": z},
                     compute=f"{p[t - 1]} + {z} * {p[back]} = {new}", write={f"P({t})": new},
                     loop="unit")
        else:
            new = p[t - 1]
            tr.state(f"compute unit {t}", fetch={f"P({t - 1})": p[t - 1], "x": x},
                     compute=f"{t} - 1 - {x} < 0, no pair is mature yet", write={f"P({t})": new},
                     loop="unit")
        p.append(new)
        if t == x + 1 or t == n:
            tr.note(f"After unit {t} there are {new} pairs.")
    return tr.finish(p[n])


POPULATION_TEMPLATES = (
    "A population starts with {y} newborn pairs. Each pair that has lived {x} full units "
    "produces {z} new pairs every unit after that, and no pair dies. How many pairs are there "
    "after {n} units?",
    "Let P(0) = {y} and P(t) = P(t-1) + {z} * P(t-1-{x}) (the second term only when "
    "t-1-{x} >= 0). Compute P({n}).",
    "Starting from {y} pairs, every pair reproduces after a maturation time of {x} units, "
    "producing {z} pairs per unit. Find the number of pairs after {n} units.",
    "Compute the total number of pairs after {n} time units, given {y} initial pairs, "
    "reproduction starting once a pair has lived {x} units, and {z} new pairs per reproducing "
    "pair per unit.",
    "Population growth: initial pairs y = {y}, maturity x = {x}, offspring per unit z = {z}, "
    "units n = {n}. What is the final number of pairs?",
    "Each pair begins to reproduce after {x} units of life and then adds {z} pairs every unit. "
    "With {y} pairs at the start, how many pairs exist after {n} units?",
    "Simulate {n} units of growth of a population of pairs: {y} pairs at the start, maturation "
    "after {x} units, {z} offspring pairs per mature pair per unit. Report the total.",
    "How many pairs will there be after {n} units if we begin with {y} pairs, each pair becomes "
    "fertile after living {x} units, and each fertile pair produces {z} pairs per unit?",
    "Given n = {n}, x = {x}, y = {y}, z = {z}, find the population after n units when pairs "
    "reproduce z pairs per unit once they have lived x units, starting from y pairs.",
    "Iterate the rule P(t) = P(t-1) + {z} * P(t-1-{x}) from P(0) = {y} (terms with a negative "
    "index are 0) up to t = {n}.",
    "A generalized Fibonacci rabbit problem: {y} pairs at time 0, maturity {x}, litter size "
    "{z} pairs. How many pairs after {n} units?",
    "Determine the population size, in pairs, after {n} steps of the growth model with "
    "{y} starting pairs, maturity age {x} and {z} offspring pairs per step.",
    "A farmer buys {y} pairs of newborn rabbits. A pair of rabbits has {z} pairs of babies "
    "every month once it has lived {x} months, and no rabbit dies. How many pairs does the "
    "farmer have after {n} months?",
    "A biologist cultures {y} pairs of cells. A pair divides off {z} new pairs every hour once "
    "it is {x} hours old. How many pairs are in the dish after {n} hours?",
    "A fish farm stocks {y} pairs of young fish. Each pair spawns {z} new pairs every season "
    "after it has lived {x} seasons, and none are harvested. How many pairs after {n} seasons?",
    "A colony of birds starts with {y} nesting pairs. Every pair raises {z} new pairs each "
    "year once it has lived {x} years. Assuming no losses, how many pairs are there after "
    "{n} years?",
    "A startup has {y} pairs of founders. Every pair that has worked {x} quarters recruits "
    "{z} new pairs each quarter, and nobody leaves. How many pairs work there after {n} "
    "quarters?",
    "A gardener plants {y} pairs of strawberry plants. Once a pair has grown {x} weeks it "
    "sends out runners that root {z} new pairs every week. How many pairs after {n} weeks?",
    "A chain letter is held by {y} pairs of friends. Each pair, after holding it {x} days, "
    "recruits {z} new pairs per day. How many pairs are in the chain after {n} days?",
    "A beekeeper starts with {y} pairs of colonies; each pair splits off {z} new pairs every "
    "month once it has existed {x} months. How many pairs does the beekeeper have after {n} "
    "months?",
    "Rumours spread in pairs: {y} pairs know it at first, and each pair that has known it for "
    "{x} hours tells {z} new pairs every hour. How many pairs know it after {n} hours?",
    "A mushroom patch starts with {y} pairs of mushrooms. After {x} days a pair releases "
    "spores that grow {z} new pairs every day. How many pairs exist after {n} days?",
)


def population_fields(instance: dict) -> dict:
    return dict(instance)


register(Task(
    name="population_growth",
    paradigm="iteration",
    ranges={"S": (1, 10), "M": (11, 25), "L": (26, 50)},
    sample=sample_population,
    solve=solve_population,
    templates=POPULATION_TEMPLATES,
    fields=population_fields,
    canonical=canonical_integer,
))
