"""Dynamic-programming task: levenshtein.

Instance: strings a (length n) and b (its length drawn from the split range holding n) over
{a,b,c,d}. Answer: the edit distance (insertions, deletions and substitutions of one
character, each costing 1). Bottom-up table D[i][j]: one state per border cell
(D[i][0] = i, D[0][j] = j) and one per inner cell restating a[i], b[j] and the three
neighbours.
Symmetry folded: swapping a and b (the edit distance is symmetric).
"""

from __future__ import annotations

import random

from tailjax.tasks.dynamic_programming.string_pairs import (range_holding, sample_string_pair,
                                                            string_pair_fields)
from tailjax.tasks.registry import Task, register, sorted_pair
from tailjax.tasks.scoring import canonical_integer
from tailjax.tasks.trace import Trace


LEVENSHTEIN_RANGES = {"S": (2, 4), "M": (5, 7), "L": (8, 9)}


def sample_levenshtein(rng: random.Random, n: int) -> dict:
    return sample_string_pair(rng, n, range_holding(LEVENSHTEIN_RANGES, n))


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
