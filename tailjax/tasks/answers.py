"""Canonical answer forms shared by several tasks: integers and lists of integers or pairs.

Each function turns a model's boxed text into one canonical string, or raises ValueError when
the text is not an answer of that form (so `score` counts it wrong instead of guessing).
"""

from __future__ import annotations

import re

NONE = "none"


def canonical_integer(text: str) -> str:
    """An integer; digit-group commas and surrounding spaces are ignored."""
    t = text.strip().replace(",", "")
    if not re.fullmatch(r"-?\d+", t):
        raise ValueError(f"not an integer: {text!r}")
    return str(int(t))


def canonical_int_list(text: str, sort: bool) -> str:
    """Comma-separated integers (`sort`: as a set-like list, order ignored); "none" if empty."""
    t = text.replace(" ", "").strip()
    if t.lower() == NONE:
        return NONE
    if not re.fullmatch(r"-?\d+(,-?\d+)*", t):
        raise ValueError(f"not a comma-separated list of integers: {text!r}")
    values = [int(v) for v in t.split(",")]
    return ",".join(str(v) for v in (sorted(values) if sort else values))


def canonical_pairs(text: str) -> str:
    """A set of integer pairs written (a,b),(c,d),... in any order; "none" if empty."""
    t = text.replace(" ", "").strip()
    if t.lower() == NONE:
        return NONE
    if not re.fullmatch(r"\(\d+,\d+\)(,\(\d+,\d+\))*", t):
        raise ValueError(f"not a list of pairs (a,b),(c,d),...: {text!r}")
    pairs = sorted({tuple(int(v) for v in m) for m in re.findall(r"\((\d+),(\d+)\)", t)})
    if len(pairs) != t.count("("):
        raise ValueError(f"a pair is listed twice: {text!r}")
    return ",".join(f"({a},{b})" for a, b in pairs)
