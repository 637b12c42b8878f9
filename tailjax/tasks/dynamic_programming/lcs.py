"""Dynamic-programming task: lcs.

Instance: strings a (length n) and b (its length drawn from the split range holding n) over
{a,b,c,d}. Answer: the length of their longest common subsequence. Bottom-up table L[i][j]
(prefixes of length i and j), filled row by row, one state per cell restating a[i], b[j] and
the neighbour cells the rule reads; row 0 and column 0 are 0.
Symmetry folded: swapping a and b. Renaming letters (the same bijection in both strings)
keeps the answer too but is not folded, for lcs and levenshtein alike.
"""

from __future__ import annotations

import random

from tailjax.tasks.dynamic_programming.string_pairs import (range_holding, sample_string_pair,
                                                            string_pair_fields)
from tailjax.tasks.registry import Task, register, sorted_pair
from tailjax.tasks.scoring import canonical_integer
from tailjax.tasks.trace import Trace


LCS_RANGES = {"S": (2, 6), "M": (7, 9), "L": (10, 12)}


def sample_lcs(rng: random.Random, n: int) -> dict:
    return sample_string_pair(rng, n, range_holding(LCS_RANGES, n))


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
