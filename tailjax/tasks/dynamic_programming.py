"""Dynamic-programming tasks: 0/1 knapsack (top-down), LCS, Levenshtein distance.

knapsack
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

lcs
    Instance: strings a (length n) and b (its length drawn from the split range holding n) over
    {a,b,c,d}. Answer: the length of their longest common subsequence. Bottom-up table L[i][j]
    (prefixes of length i and j), filled row by row, one state per cell restating a[i], b[j] and
    the neighbour cells the rule reads; row 0 and column 0 are 0.
    Symmetry folded: swapping a and b. Renaming letters (the same bijection in both strings)
    keeps the answer too but is not folded, for lcs and levenshtein alike.

levenshtein
    Instance: strings a (length n) and b (its length drawn from the split range holding n) over
    {a,b,c,d}. Answer: the edit distance (insertions, deletions and substitutions of one
    character, each costing 1). Bottom-up table D[i][j]: one state per border cell
    (D[i][0] = i, D[0][j] = j) and one per inner cell restating a[i], b[j] and the three
    neighbours.
    Symmetry folded: swapping a and b (the edit distance is symmetric).
"""

from __future__ import annotations

import functools
import random

from tailjax.tasks.registry import Task, register, sorted_pair
from tailjax.tasks.scoring import canonical_integer
from tailjax.tasks.trace import Trace

# --- knapsack ------------------------------------------------------------------------------------


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

# --- strings: LCS and Levenshtein -----------------------------------------------------------

STRING_LETTERS = "abcd"


def sample_string_pair(rng: random.Random, n: int, split_range: tuple[int, int]) -> dict:
    m = rng.randint(*split_range)
    pick = lambda k: "".join(rng.choice(STRING_LETTERS) for _ in range(k))  # noqa: E731
    return {"a": pick(n), "b": pick(m)}


def _range_of(ranges: dict, n: int) -> tuple[int, int]:
    """The split range holding n, so the second string has a length of the same split."""
    for lo, hi in ranges.values():
        if lo <= n <= hi:
            return lo, hi
    return n, n


LCS_RANGES = {"S": (2, 6), "M": (7, 9), "L": (10, 12)}
LEVENSHTEIN_RANGES = {"S": (2, 4), "M": (5, 7), "L": (8, 9)}


def sample_lcs(rng: random.Random, n: int) -> dict:
    return sample_string_pair(rng, n, _range_of(LCS_RANGES, n))


def sample_levenshtein(rng: random.Random, n: int) -> dict:
    return sample_string_pair(rng, n, _range_of(LEVENSHTEIN_RANGES, n))


def solve_lcs(instance: dict):
    a, b = instance["a"], instance["b"]
    n, m = len(a), len(b)
    t = [[0] * (m + 1) for _ in range(n + 1)]
    tr = Trace()
    tr.note("Fill the table L[i][j], the LCS length of the first i letters of a and the first j "
            "letters of b.")
    tr.state("initialize the table", fetch={"n": n, "m": m},
             compute="empty prefixes have no common letters",
             write={"L[i][0]": 0, "L[0][j]": 0})
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            x, y = a[i - 1], b[j - 1]
            if x == y:
                t[i][j] = t[i - 1][j - 1] + 1
                tr.state(f"fill L[{i}][{j}]", fetch={f"a[{i}]": x, f"b[{j}]": y,
                                                    f"L[{i - 1}][{j - 1}]": t[i - 1][j - 1]},
                         compute=f"{x} = {y}, {t[i - 1][j - 1]} + 1 = {t[i][j]}",
                         write={f"L[{i}][{j}]": t[i][j]}, loop="cell")
            else:
                up, left = t[i - 1][j], t[i][j - 1]
                t[i][j] = max(up, left)
                tr.state(f"fill L[{i}][{j}]", fetch={f"a[{i}]": x, f"b[{j}]": y,
                                                    f"L[{i - 1}][{j}]": up,
                                                    f"L[{i}][{j - 1}]": left},
                         compute=f"{x} != {y}, max({up}, {left}) = {t[i][j]}",
                         write={f"L[{i}][{j}]": t[i][j]}, loop="cell")
        if i in (1, n):
            tr.note(f"Row {i} (letter {a[i - 1]}): {' '.join(map(str, t[i][1:]))}.")
    tr.state("read the answer", fetch={f"L[{n}][{m}]": t[n][m]}, compute="the whole table is "
             "filled")
    return tr.finish(t[n][m])


def solve_levenshtein(instance: dict):
    a, b = instance["a"], instance["b"]
    n, m = len(a), len(b)
    t = [[0] * (m + 1) for _ in range(n + 1)]
    tr = Trace()
    tr.note("Fill the table D[i][j], the edit distance between the first i letters of a and the "
            "first j letters of b.")
    for i in range(n + 1):
        t[i][0] = i
        tr.state(f"set D[{i}][0]", fetch={"i": i}, compute=f"delete all {i} letters of a",
                 write={f"D[{i}][0]": i}, loop="border")
    for j in range(1, m + 1):
        t[0][j] = j
        tr.state(f"set D[0][{j}]", fetch={"j": j}, compute=f"insert all {j} letters of b",
                 write={f"D[0][{j}]": j}, loop="border")
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            x, y = a[i - 1], b[j - 1]
            cost = 0 if x == y else 1
            diag, up, left = t[i - 1][j - 1], t[i - 1][j], t[i][j - 1]
            t[i][j] = min(diag + cost, up + 1, left + 1)
            tr.state(f"fill D[{i}][{j}]",
                     fetch={f"a[{i}]": x, f"b[{j}]": y, f"D[{i - 1}][{j - 1}]": diag,
                           f"D[{i - 1}][{j}]": up, f"D[{i}][{j - 1}]": left},
                     compute=f"{x} {'=' if cost == 0 else '!='} {y}, min({diag} + {cost}, "
                            f"{up} + 1, {left} + 1) = {t[i][j]}",
                     write={f"D[{i}][{j}]": t[i][j]}, loop="cell")
        if i in (1, n):
            tr.note(f"Row {i} (letter {a[i - 1]}): {' '.join(map(str, t[i]))}.")
    tr.state("read the answer", fetch={f"D[{n}][{m}]": t[n][m]}, compute="the whole table is "
             "filled")
    return tr.finish(t[n][m])


LCS_TEMPLATES = (
    "What is the length of the longest common subsequence of \"{a}\" and \"{b}\"?",
    "Find the LCS length of the strings {a} and {b}.",
    "Compute the length of the longest sequence of letters that is a subsequence of both {a} "
    "and {b}.",
    "Strings: a = {a}, b = {b}. Length of their longest common subsequence?",
    "Using dynamic programming, determine the LCS length for {a} and {b}.",
    "How long is the longest common subsequence shared by \"{a}\" and \"{b}\"?",
    "Give the length of a longest string that can be obtained by deleting letters from both "
    "{a} and {b}.",
    "LCS({a}, {b}) = ? (answer with the length)",
    "Determine the size of the longest common subsequence between the words {a} and {b}.",
    "Two strings are given: {a} and {b}. What is the length of their LCS?",
    "Find the maximum number of letters, kept in order, that {a} and {b} have in common as a "
    "subsequence.",
    "A biologist compares the DNA-like sequences {a} and {b}. How long is their longest common "
    "subsequence?",
    "A version-control tool diffs the lines {a} and {b} character by character. How many "
    "characters does the longest common subsequence keep?",
    "Two birds sing the note sequences {a} and {b}. What is the length of the longest melody "
    "both contain as a subsequence?",
    "A plagiarism checker compares the code strings {a} and {b}. Report the length of their "
    "longest common subsequence.",
    "Two dancers perform the move sequences {a} and {b}. How many moves long is the longest "
    "routine they both perform in order, possibly with gaps?",
    "A spell checker compares the typed word {a} with the dictionary word {b}. What is the "
    "LCS length?",
    "Two trains pass stations in the orders {a} and {b}. How many stations long is the longest "
    "list of stations that both pass in the same order?",
    "A linguist aligns the words {a} and {b}. What is the length of their longest common "
    "subsequence?",
    "Two chefs add ingredients in the orders {a} and {b}. How long is the longest ingredient "
    "order they share as a subsequence?",
    "Two hikers log waypoints {a} and {b}. What is the length of the longest waypoint sequence "
    "common to both logs, in order?",
    "Two students type the answers {a} and {b}. What is the length of their longest common "
    "subsequence?",
)

LEVENSHTEIN_TEMPLATES = (
    "What is the Levenshtein distance between \"{a}\" and \"{b}\"?",
    "Compute the edit distance from {a} to {b} (insertions, deletions and substitutions each "
    "cost 1).",
    "How many single-character edits are needed to turn {a} into {b}?",
    "Find the minimum number of insertions, deletions or substitutions that transform \"{a}\" "
    "into \"{b}\".",
    "Levenshtein({a}, {b}) = ?",
    "Strings a = {a} and b = {b}: what is their edit distance?",
    "Using dynamic programming, compute the Levenshtein distance of {a} and {b}.",
    "Determine the smallest number of one-letter edits that change {a} into {b}.",
    "Give the edit distance between the words {a} and {b}.",
    "How far apart are {a} and {b} in Levenshtein distance?",
    "Compute the minimal cost to convert {a} to {b} when inserting, deleting or replacing a "
    "letter each costs 1.",
    "A spell checker sees the typo {a} and the dictionary word {b}. What is their edit "
    "distance?",
    "A geneticist compares the sequences {a} and {b}. How many point mutations (insertions, "
    "deletions, substitutions) separate them at least?",
    "A keyboard user typed {a} instead of {b}. What is the fewest number of single-key fixes "
    "(insert, delete or replace a letter) needed?",
    "An OCR engine read {a} where the page says {b}. What is the Levenshtein distance between "
    "the two?",
    "A teacher grades a spelling test: the student wrote {a}, the correct word is {b}. How "
    "many letter edits does the correction take at least?",
    "A search engine suggests {b} for the query {a}. What is the edit distance between them?",
    "A radio message {a} arrived, but {b} was sent. What is the minimum number of character "
    "insertions, deletions and substitutions that explain the difference?",
    "A puzzle asks you to change the word {a} into {b} one letter operation at a time "
    "(insert, delete, replace). What is the least number of operations?",
    "A version-control tool measures how different the tags {a} and {b} are by their edit "
    "distance. What is it?",
    "Two sensors report the codes {a} and {b}. What is the Levenshtein distance between the "
    "codes?",
    "A translator's draft has {a} where the final text has {b}. How many one-character edits "
    "are needed at least?",
)


def string_pair_fields(instance: dict) -> dict:
    return {"a": instance["a"], "b": instance["b"]}


register(Task(
    name="lcs",
    paradigm="dynamic programming",
    ranges=LCS_RANGES,
    sample=sample_lcs,
    solve=solve_lcs,
    templates=LCS_TEMPLATES,
    fields=string_pair_fields,
    canonical=canonical_integer,
    fold=sorted_pair("a", "b"),
))

register(Task(
    name="levenshtein",
    paradigm="dynamic programming",
    ranges=LEVENSHTEIN_RANGES,
    sample=sample_levenshtein,
    solve=solve_levenshtein,
    templates=LEVENSHTEIN_TEMPLATES,
    fields=string_pair_fields,
    canonical=canonical_integer,
    fold=sorted_pair("a", "b"),
))
