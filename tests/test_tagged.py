"""Addition's tagged notation (run 21's design with run 27's letters, simulation.addition.
PlaceTags) and the integer-only option, checked against an independent reading of the prompt,
of the trace and of the sum tape (task_checks.operand, tape_value): the expected sums are
int(x1) + int(x2) of the operands read from the prompt, and nothing here uses the solver's code
but where a test says so."""

from __future__ import annotations

import random
import re

import pytest

from task_checks import (CELL, check_ablations, check_trace_shape, letter, operand, tape,
                         tape_value)
from tailjax.tasks import TASKS, answer_text, last_boxed, score, synthesize
from tailjax.tasks.simulation.addition import PlaceTags, untag
from tailjax.tasks.trace import VARIANTS

N = 200  # instances per split and variant
LENGTHS = {"S": (2, 6), "M": (7, 8), "L": (9, 10), "stretch": (11, 11)}  # 11: A-Z in full
ALL_VARIANTS = VARIANTS + ("index-hint", "reversed")
TAPE_VARIANTS = ("tail", "no-fetch", "no-atomic", "no-linear")  # they box the tape: \boxed{s}
PROMPT = re.compile(r"What is (\S+) \+ (\S+)\?")  # template 0
def boxed_value(text: str, units: str) -> int:
    """A boxed tagged sum: its tags name places highest first, down to the units."""
    pairs = CELL.findall(text)
    assert "".join(d + t for d, t in pairs) == text
    assert [t for _, t in pairs] == [letter(units, p) for p in range(len(pairs) - 1, -1, -1)]
    return int("".join(d for d, _ in pairs))


@pytest.mark.parametrize("split", sorted(LENGTHS))
@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_tagged_records_agree_with_an_independent_sum(split, variant):
    for i in range(N):
        r = synthesize("addition", split, 7, i, variant, LENGTHS[split], template=0,
                       notation="tagged", integer=True)
        field1, field2 = PROMPT.fullmatch(r["prompt"]).groups()
        a, b = operand(field1), operand(field2)
        n = r["length"]
        assert len(a["up"]) == len(b["up"]) == n + 1
        assert b["up"] == [chr(ord(t) + 1) for t in a["up"]]  # x2's letters: each after x1's
        for x in (a, b):
            if variant == "reversed":  # place order: the units first, the blank cell last
                assert x["written"] == x["up"]
            else:  # the units pair last
                assert x["written"][-1] == x["units"]
        total = a["value"] + b["value"]
        assert {"x1": str(a["value"]), "x2": str(b["value"])} == r["instance"]
        assert r["answer"] == str(total)
        boxed = last_boxed(r["completion"])
        if variant in TAPE_VARIANTS:
            assert boxed == "s"
            assert tape_value(r["completion"], a["units"]) == total
        else:
            assert boxed_value(boxed, a["units"]) == total
        assert score("addition", r["completion"], r["answer"])
        if variant in TAPE_VARIANTS + ("tail-styled",):
            check_trace(r["completion"], a, b, total, variant)


def check_trace(completion: str, a: dict, b: dict, total: int, variant: str):
    """Every fetch returns the prompt's cell of its tag (a digit, or `_` at the blank); every
    sum cell holds the sum's digit of its place and the sentinel `_` stands below the units; the
    places are added once each, lowest first, up to the blank cells, where the trace ends."""
    for name, x in (("x1", a), ("x2", b)):
        fetched = re.findall(rf"{name} ?= ?([A-Z])([\d_])", completion)
        assert all(x["cells"][t] == d for t, d in fetched), (name, fetched)
        assert {t for t, _ in fetched} == (set() if variant == "no-fetch" else set(x["up"]))
    units = a["units"]
    for tag, d in tape(completion).items():
        p, odd = divmod(ord(tag) - ord(units), 2)
        assert not odd, (tag, units)  # the sum's letters are x1's
        assert d == ("_" if p == -1 else str(total // 10 ** p % 10)), (tag, d)
        assert -1 <= p < len(str(total)), tag
    added = re.findall(r"^(?:Now we )?add the digits at place ([A-Z])[:.]", completion, re.M)
    if variant in ("tail", "tail-styled", "no-fetch"):
        assert added == a["up"]
        last = completion.split("\n")[-2]
        assert "the operands end" in last and last.endswith(("-> END", "Next, we stop."))


def test_tagged_traces_have_the_tail_shape_in_every_ablation():
    """The generic TAIL checks (task_checks) on tagged recordings: linear transitions, a fetch
    in every state, each ablation removing one module (this test calls the solver)."""
    task = TASKS["addition"]
    rng = random.Random(5)
    for n in (2, 6, 9):
        for _ in range(20):
            instance = task.sample_integer(rng, n)
            trace = task.solve(instance, PlaceTags.draw(instance, rng))
            check_trace_shape(trace)
            check_ablations(trace)


def test_letters_are_interleaved_at_a_random_offset_and_the_order_random():
    units, orders = set(), set()
    for i in range(300):
        r = synthesize("addition", "S", 1, i, "direct", (6, 6), 0, "tagged", True)
        a = operand(PROMPT.fullmatch(r["prompt"]).groups()[0])
        units.add(a["units"])
        orders.add(tuple(ord(t) - ord(a["units"]) for t in a["written"]))
    # 16 letters: x1's 8 (the sentinel below the units, 6 digits and the blank cell above them),
    # each followed by x2's, at any offset within A-Z
    assert units == set("CDEFGHIJKLM")
    assert len(orders) > 200  # 6! = 720 orders of the places above the units


def test_plain_records_are_unchanged_by_the_options():
    """The paper's notation stays the default, and `integer` only removes decimal points."""
    for i in range(50):
        plain = synthesize("addition", "M", 3, i, "tail", (3, 5))
        assert plain == synthesize("addition", "M", 3, i, "tail", (3, 5), None, "plain", False)
        assert "s[" not in last_boxed(plain["completion"])
        integer = synthesize("addition", "M", 3, i, "tail", (3, 5), None, "plain", True)
        assert "." not in integer["instance"]["x1"] + integer["instance"]["x2"]
        assert integer["answer"] == str(int(integer["instance"]["x1"]) +
                                        int(integer["instance"]["x2"]))


TAPE = ("align the decimal points: x1=C.., x2=D.. ; the places start at C ; x1=C.., x2=D.., "
        "carry=0, s[A]=_ ; -> add the digits at place C\n"
        "... ; s[C]=7, carry=0 ; -> add the digits at place E\n"
        "... ; s[E]=0, carry=1 ; -> add the digits at place G\n"
        "add the digits at place G: x1=G_, x2=H_, carry=1 ; the operands end ; s[G]=1 ; -> END\n"
        "answer: \\boxed{s}")


def test_the_scorer_reads_the_tape_a_box_names():
    assert answer_text("addition", TAPE) == "1G0E7C"
    assert score("addition", TAPE, "107")
    assert not score("addition", TAPE, "108")
    assert not score("addition", TAPE.replace("s[E]=0", "s[E]=5"), "107")  # a wrong digit
    assert not score("addition", TAPE.replace("s[G]=1 ", ""), "107")       # a lost carry
    # the last write to a cell wins
    assert score("addition", TAPE.replace("s[A]=_", "s[A]=_, s[E]=9"), "107")
    assert not score("addition", TAPE.replace("s[G]=1", "s[G]=1, s[E]=9"), "107")
    assert not score("addition", TAPE.replace("s[C]=7", "s[C]=75"), "107")  # no one-digit cell


@pytest.mark.parametrize("completion", [
    "answer: \\boxed{s}",                                    # no tape at all
    "carry=0, s[A]=_ ; -> add the digits at place C\nanswer: \\boxed{s}",  # the sentinel only
    "s[c]=7, carry=0 ; -> END\nanswer: \\boxed{s}",  # a lower-case letter is no place
])
def test_a_missing_or_unreadable_tape_scores_false(completion):
    assert answer_text("addition", completion) is None
    assert not score("addition", completion, "7")


def test_a_tape_without_its_box_is_unparsed():
    assert last_boxed(TAPE[:TAPE.index("answer:")]) is None
    assert not score("addition", TAPE[:TAPE.index("answer:")], "107")


def test_boxed_tagged_and_plain_sums_still_score():
    assert score("addition", r"\boxed{1K0D7X}", "107")
    assert score("addition", r"\boxed{107}", "107")
    assert not score("addition", r"\boxed{1K0D7K}", "107")   # names a place twice
    assert not score("addition", r"\boxed{1K0D8X}", "107")
    assert not score("addition", r"\boxed{1k0d7x}", "107")   # lower-case letters are no tags
    assert untag("5C7B1A") == "571"
    with pytest.raises(ValueError, match="names a place twice"):
        untag("5C1A2C")


def test_bad_requests_name_the_fix():
    with pytest.raises(ValueError, match="integer operands only"):
        synthesize("addition", "S", 1, 0, "tail", (3, 3), 0, "tagged", False)
    with pytest.raises(ValueError, match="has no 'tagged' notation"):
        synthesize("compare", "S", 1, 0, "tail", (3, 3), 0, "tagged", False)
    with pytest.raises(ValueError, match="has no integer-only option"):
        synthesize("bubble_sort", "S", 1, 0, "tail", None, 0, "plain", True)
    with pytest.raises(ValueError, match="26 place letters, 2 [(]n [+] 2[)] .* at most 11 "):
        synthesize("addition", "S", 1, 0, "tail", (12, 12), 0, "tagged", True)
    synthesize("addition", "S", 1, 0, "tail", (11, 11), 0, "tagged", True)
    with pytest.raises(ValueError, match="operands of one length .* got 2 and 3 digits"):
        PlaceTags.draw({"x1": "12", "x2": "345"}, random.Random(0))
    assert "tagged" in TASKS["addition"].notations
