"""Backtracking task: palindrome_partition.

Instance: a string s of n letters drawn from three letters picked at random from a..z (few
letters make palindromes common; picking them at random keeps the short S strings many and
distinct). Answer: the number of ways to cut s into consecutive non-empty pieces that are
all palindromes (single letters always are, so the answer is >= 1).
Backtracking, every choice and undo written out: from position i, try the pieces s[i..j] for
j = i, i+1, ..., n-1 in turn. Each try is one state that compares the piece with its reverse
(one elementary comparison of at most n letters); it is named by the piece and the pieces
chosen before it ("try s[2..3] after a|b"), since the same piece is tried on several paths.
A palindrome is chosen (the state writes the new partial partition) and the search goes on
at j+1; reaching the end of s is one state that adds 1 to the count; when the search comes
back, one "undo" state removes the piece again and restates the partition before it. A piece
that is not a palindrome is rejected in its own try state. The trace length is linear in the
number of tries the backtracking makes (exponential in n for strings rich in palindromes,
such as "aabaabaa": the longest L traces come from those).
Symmetry folded: reading s backwards (the partitions of s reversed are those of s, each
reversed). Renaming letters also keeps the answer but is not folded: the S split holds only
about twenty strings up to renaming, so folding it would leave no S instance for training.
"""

from __future__ import annotations

import random
import string

from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_integer
from tailjax.tasks.trace import Trace


ALPHABET_SIZE = 3


def sample_palindrome(rng: random.Random, n: int) -> dict:
    letters = rng.sample(string.ascii_lowercase, ALPHABET_SIZE)
    return {"s": "".join(rng.choice(letters) for _ in range(n))}


def _show(pieces: list[str]) -> str:
    return "|".join(pieces) if pieces else "(empty)"


def solve_palindrome(instance: dict):
    s = instance["s"]
    n = len(s)
    tr = Trace()
    tr.note(f"Cut {s} from the left: at each position try every piece that starts there, keep "
            "the palindromic ones, and count the complete partitions.")
    pieces: list[str] = []
    count = 0

    def search(i: int):
        nonlocal count
        if i == n:
            count += 1
            tr.state(f"reach the end with {_show(pieces)}", fetch={"count": count - 1},
                     compute=f"{count - 1} + 1 = {count}", write={"count": count})
            if count <= 3:
                tr.note(f"{_show(pieces)} is partition number {count}.")
            return
        # A try is named by the pieces before it: the same piece recurs on other paths.
        path = _show(pieces) if pieces else "start"
        for j in range(i, n):
            piece = s[i:j + 1]
            label = f"s[{i}..{j}]"
            back = piece[::-1]
            if piece != back:
                tr.state(f"try {label} after {path}", fetch={label: piece},
                         compute=f"reverse({piece}) = {back} != {piece}, reject",
                         loop=f"pieces from {i}")
                continue
            chosen = _show(pieces + [piece])
            tr.state(f"try {label} after {path}", fetch={label: piece, "parts": _show(pieces)},
                     compute=f"reverse({piece}) = {piece}, choose it", write={"parts": chosen},
                     loop=f"pieces from {i}")
            pieces.append(piece)
            search(j + 1)
            pieces.pop()
            tr.state(f"undo {label} after {path}", fetch={"parts": chosen},
                     compute=f"remove {piece}", write={"parts": _show(pieces)}, loop="undo")

    search(0)
    tr.state("report count", fetch={"count": count}, compute="every choice is tried and undone")
    tr.note(f"There are {count} palindromic partitions of {s}.")
    return tr.finish(count)


PALINDROME_TEMPLATES = (
    "In how many ways can the string {s} be split into pieces that are all palindromes?",
    "Count the palindrome partitions of \"{s}\".",
    "How many ways are there to cut {s} into consecutive non-empty palindromic substrings?",
    "Find the number of ways to partition the string {s} so that every part is a palindrome.",
    "Using backtracking, count all partitions of {s} into palindromes.",
    "String: {s}. Number of palindromic partitions?",
    "Determine how many different palindrome combinations make up the string {s}, read left to "
    "right.",
    "Cut the word {s} into pieces, each of which reads the same forwards and backwards. How "
    "many different cuttings are there?",
    "Give the number of ways to write {s} as a concatenation of palindromes.",
    "List mentally every way to split {s} into palindromes; how many are there?",
    "Each piece of a partition of {s} must be a palindrome. Count the partitions.",
    "How many palindromic decompositions does the string \"{s}\" have?",
    "A banner reads {s}. A designer cuts it into strips, each of which must read the same in "
    "both directions. How many ways can the banner be cut?",
    "A child has letter blocks {s} in a row and splits the row into groups that are "
    "palindromes. In how many ways can this be done?",
    "A poet divides the syllable string {s} into palindromic feet, in order. How many "
    "divisions are possible?",
    "A DNA researcher splits the sequence {s} into palindromic segments. How many "
    "segmentations exist?",
    "A ribbon has the pattern {s}. It is cut into pieces that each look the same from both "
    "ends. Count the ways to cut it.",
    "A puzzle game scores a point for each way of splitting the word {s} into palindromes. How "
    "many points is {s} worth?",
    "A train of wagons coloured {s} is split into shorter trains, each symmetric front to "
    "back. In how many ways can it be split?",
    "A necklace clasp is opened so the beads {s} lie in a line; they are grouped into "
    "palindromic runs. How many groupings exist?",
    "A cryptographer splits the code word {s} into palindromic blocks. How many block "
    "structures are possible?",
    "A musician breaks the note sequence {s} into phrases that sound the same played "
    "backwards. How many ways are there?",
)


def palindrome_fields(instance: dict) -> dict:
    return {"s": instance["s"]}


register(Task(
    name="palindrome_partition",
    paradigm="backtracking",
    ranges={"S": (2, 4), "M": (5, 6), "L": (7, 8)},
    sample=sample_palindrome,
    solve=solve_palindrome,
    templates=PALINDROME_TEMPLATES,
    fields=palindrome_fields,
    canonical=canonical_integer,
    fold=lambda inst: {**inst, "s": min(inst["s"], inst["s"][::-1])},
))
