"""Recursion task: any_substring.

Instance: a string s of n lowercase letters. Answer: every contiguous non-empty substring
s[i..j], one per (start, end) pair, so repeated substrings are listed each time they occur
(n(n+1)/2 entries), written comma-separated without spaces in the order the recursion produces
them: by start position, then by end position ("a,ab,abc,b,bc,c"). Scoring compares the list
in that order (spaces ignored), since a set comparison could not tell repeated occurrences
apart.
Recursion: subs(i) grows the substrings starting at i one character at a time (each a state
that fetches the previous substring and the next character), then calls subs(i + 1); subs(n)
is the base case, after which every call returns in turn.
Symmetry folded: none (reversing or relabelling s changes the listed substrings).
"""

from __future__ import annotations

import random
import re
import string

from tailjax.tasks.registry import Task, register
from tailjax.tasks.trace import Trace


SUBSTRING_LETTERS = string.ascii_lowercase


def sample_substring(rng: random.Random, n: int) -> dict:
    return {"s": "".join(rng.choice(SUBSTRING_LETTERS) for _ in range(n))}


def solve_substring(instance: dict):
    s = instance["s"]
    n = len(s)
    tr = Trace()
    found = []
    tr.note(f"The string {s} has {n} characters, so it has {n} * {n + 1} / 2 = "
            f"{n * (n + 1) // 2} substrings, one for each start and end position.")
    for i in range(n):
        tr.state(f"call subs({i})", fetch={"i": i, "n": n}, compute=f"{i} < {n}, start at s[{i}]",
                 write={f"sub[{i}..{i}]": s[i]})
        found.append(s[i])
        for j in range(i + 1, n):
            prev = s[i:j]
            tr.state(f"extend sub[{i}..{j - 1}]",
                     fetch={f"sub[{i}..{j - 1}]": prev, f"s[{j}]": s[j]},
                     compute=f"{prev} + {s[j]} = {prev + s[j]}",
                     write={f"sub[{i}..{j}]": prev + s[j]}, loop=f"extend from {i}")
            found.append(prev + s[j])
        if i in (0, n - 1):
            tr.note(f"Starting at position {i}: {', '.join(found[-(n - i):])}.")
    tr.state(f"call subs({n})", fetch={"i": n, "n": n}, compute=f"{n} = {n}, no characters left",
             write={"count": len(found)})
    for i in range(n - 1, -1, -1):
        tr.state(f"return back to subs({i})", fetch={"i": i},
                 compute=f"subs({i + 1}) is done, so subs({i}) is done")
    return tr.finish(",".join(found))


def canonical_substrings(text: str) -> str:
    parts = [p.strip() for p in text.replace(" ", "").split(",")]
    if not parts or any(not re.fullmatch(r"[a-z]+", p) for p in parts):
        raise ValueError(f"not a comma-separated list of lowercase substrings: {text!r}")
    return ",".join(parts)


SUBSTRING_TEMPLATES = (
    "List all substrings of the string {s}.",
    "Write down every contiguous non-empty substring of \"{s}\", one for each start and end "
    "position, separated by commas.",
    "Given the string {s}, enumerate all of its substrings (repeats included).",
    "What are all the substrings of {s}? List each occurrence.",
    "Find every substring of the word {s} using recursion on the start position.",
    "Produce the list of all {count} substrings of {s}.",
    "For s = {s}, output s[i..j] for every 0 <= i <= j < {n}.",
    "Enumerate all contiguous pieces of the string {s}.",
    "Return each substring of \"{s}\" (a substring is a contiguous run of characters).",
    "Generate all substrings of {s} in order of their starting position.",
    "Input string: {s}. Task: list every non-empty substring.",
    "How can the string {s} be cut into a contiguous piece? List every possible piece.",
    "Show all the substrings of {s}, including substrings that appear more than once.",
    "Recursively list the substrings of {s}: first those starting at the first letter, then the "
    "rest.",
    "A geneticist studies the short sequence {s} and wants every contiguous fragment of it. "
    "List all the fragments.",
    "A password checker must test every contiguous part of the password {s} against a "
    "dictionary. Which parts does it test?",
    "A child has the letter tiles {s} in a row and may lift any run of adjacent tiles. List "
    "every run she could lift.",
    "An editor wants to search a document for every substring of the tag \"{s}\". List the "
    "search terms.",
    "A railway train has cars labelled {s}, in order. A contiguous group of cars can be "
    "uncoupled; list the label sequence of every possible group.",
    "A musician plays the notes {s}. Every unbroken passage of one or more notes is a motif. "
    "Write down all the motifs.",
    "A scrabble player considers the rack string {s} and every contiguous slice of it. "
    "List the slices.",
    "In a text-compression exercise you must index all substrings of {s}. List them.",
)
# What the scorer requires (Task.answer_rule): an ordered list.
SUBSTRING_ANSWER = ("Answer with the {count} substrings comma-separated, ordered by start "
                    "position and then by end position, each occurrence listed (for "
                    '"aba": a,ab,aba,b,ba,a).')


def substring_fields(instance: dict) -> dict:
    n = len(instance["s"])
    return {"s": instance["s"], "n": n, "count": n * (n + 1) // 2}


register(Task(
    name="any_substring",
    paradigm="recursion",
    ranges={"S": (3, 5), "M": (6, 9), "L": (10, 14)},
    sample=sample_substring,
    solve=solve_substring,
    templates=SUBSTRING_TEMPLATES,
    fields=substring_fields,
    canonical=canonical_substrings,
    answer_rule=SUBSTRING_ANSWER,
))
