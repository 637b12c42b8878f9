"""Recursion tasks: any substring, derangement.

any_substring
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

derangement
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
import re
import string

from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_integer
from tailjax.tasks.trace import Trace

# --- any substring ------------------------------------------------------------------------------

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

# --- derangement ---------------------------------------------------------------------------------


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
