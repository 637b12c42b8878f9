"""Scoring: the last `\\boxed{}` of a completion, compared with the answer in canonical form.

A box that names one of the task's tapes (`Task.tapes`: addition's tagged traces end with
`\\boxed{s}`, "the answer is tape s") is read from that tape instead: the cells the completion
wrote, by the task's reader (`answer_text`).

Answers are ASCII, one rule for every task: a boxed answer with any other character (full-width
or Arabic-Indic digits, say) is not an answer, so `score` counts it wrong (`canonical_answer`).

The canonical forms several tasks share live here too. Each turns a model's boxed text into one
canonical string, or raises ValueError when the text is not an answer of that form (so `score`
counts it wrong instead of guessing); a form only one task uses lives in that task's module.
"""

from __future__ import annotations

import re

from tailjax.tasks.registry import Task, get_task

_BOXED = re.compile(r"\\boxed\{")


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` in text (braces balanced), or None."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i]
    return None


def canonical_answer(task: Task | str, text: str) -> str:
    """The canonical form of an answer text of `task`; ValueError when it is not one, and always
    when it holds a character outside ASCII (canonical answers are ASCII, digits 0-9 only)."""
    task = get_task(task) if isinstance(task, str) else task
    if not text.isascii():
        raise ValueError(f"answers are ASCII; {text!r} is not")
    return task.canonical(text)


def answer_text(task: Task | str, completion: str) -> str | None:
    """The answer `completion` gives: the content of its last `\\boxed{}`, or, when that box
    holds the name of one of the task's tapes (`Task.tapes`), what the completion wrote on the
    tape (that tape's reader; None when it wrote no readable number). None without a box."""
    task = get_task(task) if isinstance(task, str) else task
    got = last_boxed(completion)
    reader = task.tapes.get(got.strip()) if got is not None else None
    return reader(completion) if reader else got


def score(task: Task | str, completion: str, answer: str) -> bool:
    """Whether the answer of `completion` (`answer_text`: the last boxed answer, or the tape it
    names) equals `answer` in canonical form."""
    got = answer_text(task, completion)
    if got is None:
        return False
    try:
        return canonical_answer(task, got) == canonical_answer(task, answer)
    except ValueError:
        return False


_PLAIN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def canonical_decimal(text: str) -> str:
    """The canonical form of a plain decimal: no sign for zero, no leading zeros, no trailing
    fraction zeros, no bare point ("007.50" -> "7.5", "-0.0" -> "0"). Raises ValueError."""
    t = text.strip()
    if not _PLAIN.fullmatch(t):
        raise ValueError(f"not a plain decimal number: {text!r}")
    sign = "-" if t[0] == "-" else ""
    t = t.lstrip("+-")
    whole, _, frac = t.partition(".")
    whole = whole.lstrip("0") or "0"
    frac = frac.rstrip("0")
    body = whole + ("." + frac if frac else "")
    return body if body == "0" else sign + body


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
