"""The six foundation tasks: every split and variant on 200 random instances each, against an
independent computation of the answer (tests/task_checks.py holds the generic checks)."""

import bisect
import re
from decimal import ROUND_DOWN, Decimal, localcontext

import pytest

from task_checks import check_task
from tailjax.tasks import SPLITS, TASKS, canonical_answer, get_task, score, synthesize

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


# --- task-specific forms ------------------------------------------------------------------------

HINT = re.compile(r"(\d)([a-zA-Z]+)")


def unhint(text: str) -> str:
    return HINT.sub(r"\1", text)


def test_index_hint_marks_each_place_with_the_same_letters_in_both_operands():
    from tailjax.tasks.simulation.addition import index_hinted

    assert index_hinted("12.5") == "1b2a.5A"
    assert index_hinted("305") == "3c0b5a"
    assert index_hinted("0.25") == "0a.2A5B"
    long = index_hinted("1" + "0" * 27)  # places past z take two letters
    assert long.startswith("1ab0aa0z0y")
    task = get_task("addition")
    inst = {"x1": "987.65", "x2": "4.3"}
    prompt, completion = task.extra_variants["index-hint"](inst, "What is 987.65 + 4.3?")
    assert prompt == "What is 9c8b7a.6A5B + 4a.3A?"
    assert completion == "9c9b1a.9A5B\nSo the final answer is \\boxed{991.95}"
    assert unhint(prompt) == "What is 987.65 + 4.3?"


def test_reversed_writes_operands_and_result_backwards():
    task = get_task("addition")
    inst = {"x1": "987.65", "x2": "4.3"}
    prompt, completion = task.extra_variants["reversed"](inst, "Add 987.65 and 4.3 exactly.")
    assert prompt == "Add 56.789 and 3.4 exactly."
    assert completion == "59.199\nSo the final answer is \\boxed{991.95}"


def test_addition_templates_hold_no_number_but_the_operands():
    # index-hint and reversed rewrite every number of the prompt, so no template may add one
    task = get_task("addition")
    inst = task.sample(__import__("random").Random(0), 12)
    for t in task.templates:
        p = t.format(**task.fields(inst))
        hinted, _ = task.extra_variants["index-hint"](inst, p)
        assert unhint(hinted) == p


def test_division_states_its_precision_rule_in_every_prompt():
    task = get_task("division")
    for t in task.templates:
        assert "truncate" in t and "3 decimal places" in t, t
    # a repeating quotient is cut, not rounded: 2 / 3 = 0.666...
    assert task.solve({"x1": "2", "x2": "3"}).answer == "0.666"
    assert task.solve({"x1": "1.5", "x2": "0.4"}).answer == "3.75"


def test_division_samples_decimal_divisors():
    import random

    task = get_task("division")
    rng = random.Random(1)
    divisors = [task.sample(rng, 8)["x2"] for _ in range(300)]
    assert any("." in d for d in divisors) and any(len(d) == 1 for d in divisors)


def test_compare_rejects_the_smaller_number_and_splits_late():
    import random

    task = get_task("compare")
    rng = random.Random(2)
    deciding = []
    for _ in range(300):
        inst = task.sample(rng, 30)
        tr = task.solve(inst)
        smaller = inst["x1"] if tr.answer == inst["x2"] else inst["x2"]
        assert not score(task, f"\\boxed{{{smaller}}}", tr.answer)
        deciding.append(sum(s.loop == "place" for s in tr.states))
    # shared prefixes: the deciding place is often deep into the numbers
    assert max(deciding) > 20 and min(deciding) == 1


@pytest.mark.parametrize("task, good, same, wrong", [
    ("addition", "12.50", "12.5", "12.05"),
    ("division", "007.250", "7.25", "7.2"),
    ("compare", "+3.0", "3", "30"),
    ("bubble_sort", "[1,2, 30]", "1, 2, 30", "1, 30, 2"),
    ("word_flip", ' "olleh dlrow" ', "olleh dlrow", "olleh  dlrow"),
    ("binary_search", " 07", "7", "8"),
])
def test_score_compares_canonical_forms(task, good, same, wrong):
    assert score(task, f"work... \\boxed{{{wrong}}} then \\boxed{{{good}}}", same)
    assert not score(task, f"\\boxed{{{good}}} then \\boxed{{{wrong}}}", same)
    assert not score(task, f"the answer is {same}", same)  # no box, no credit


@pytest.mark.parametrize("task, text", [
    ("addition", "1e5"), ("addition", "12,5"), ("compare", "x1"), ("bubble_sort", "1 2 3"),
    ("binary_search", "3.0"), ("division", ""),
])
def test_canonical_rejects_non_answers(task, text):
    with pytest.raises(ValueError):
        get_task(task).canonical(text)
    assert not score(task, f"\\boxed{{{text}}}", "3")


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_digits_outside_ascii_are_wrong_for_every_task(task):
    answers = [synthesize(task, split, 5, i)["answer"] for split in SPLITS for i in range(3)]
    assert all(a.isascii() and canonical_answer(task, a) == a for a in answers)
    for answer in answers:
        assert score(task, f"\\boxed{{{answer}}}", answer)
        for digits in (FULL_WIDTH, ARABIC_INDIC):
            other = answer.translate(digits)
            if other != answer:
                assert not score(task, f"\\boxed{{{other}}}", answer), other
                with pytest.raises(ValueError, match="answers are ASCII"):
                    canonical_answer(task, other)
