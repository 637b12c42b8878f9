"""The six foundation tasks: every split and variant on 200 random instances each, against an
independent computation of the answer (tests/task_checks.py holds the generic checks)."""

import bisect
import re
from decimal import ROUND_DOWN, Decimal, localcontext

import pytest

from task_checks import check_task
from tailjax.tasks import SPLITS, get_task, score

DIGITS = re.compile(r"\d")


def plain(d: Decimal) -> str:
    """A Decimal in canonical plain notation, by the decimal module alone."""
    with localcontext() as ctx:
        ctx.prec = 200
        s = format(d.normalize(), "f")
    return "0" if s in ("-0", "0") else s


def digit_count(x: str) -> int:
    return len(DIGITS.findall(x))


def addition_answer(inst):
    assert digit_count(inst["x1"]) == digit_count(inst["x2"])
    with localcontext() as ctx:
        ctx.prec = 200
        return plain(Decimal(inst["x1"]) + Decimal(inst["x2"]))


def division_answer(inst):
    assert 1 <= digit_count(inst["x2"]) <= 2
    with localcontext() as ctx:
        ctx.prec = 200
        q = Decimal(inst["x1"]) / Decimal(inst["x2"])
        return plain(q.quantize(Decimal("0.001"), rounding=ROUND_DOWN))


def bubble_sort_answer(inst):
    xs = inst["numbers"]
    assert len(set(xs)) == len(xs), "numbers must be distinct"
    return ", ".join(str(x) for x in sorted(xs))


def word_flip_answer(inst):
    s = inst["sentence"]
    assert re.fullmatch(r"[a-z]+( [a-z]+)*", s)
    return s[::-1]


def compare_answer(inst):
    a, b = Decimal(inst["x1"]), Decimal(inst["x2"])
    assert a != b and digit_count(inst["x1"]) == digit_count(inst["x2"])
    return plain(max(a, b))


def binary_search_answer(inst):
    a = inst["numbers"]
    assert a == sorted(set(a))
    i = bisect.bisect_left(a, inst["target"])
    assert a[i] == inst["target"]
    return str(i)


CASES = {
    "addition": (addition_answer, lambda inst: digit_count(inst["x1"])),
    "division": (division_answer, lambda inst: digit_count(inst["x1"])),
    "bubble_sort": (bubble_sort_answer, lambda inst: len(inst["numbers"])),
    "word_flip": (word_flip_answer, lambda inst: len(inst["sentence"].replace(" ", ""))),
    "compare": (compare_answer, lambda inst: digit_count(inst["x1"])),
    "binary_search": (binary_search_answer, lambda inst: len(inst["numbers"])),
}


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("task", CASES)
def test_task(task, split):
    independent, length_of = CASES[task]
    check_task(task, split, independent, length_of=length_of)
