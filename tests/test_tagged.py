"""Addition's tagged notation (place tags at a random offset) and the integer-only option,
checked against an independent reading of the prompt: nothing here uses the solver's code."""

from __future__ import annotations

import re

import pytest

from tailjax.tasks import TASKS, last_boxed, score, synthesize
from tailjax.tasks.simulation import untag
from tailjax.tasks.trace import VARIANTS

TAGGED = re.compile(r"((?:[A-Za-z]\d)+)")
N = 200  # instances per split and variant
LENGTHS = {"S": (2, 6), "M": (7, 8), "L": (9, 10)}
ALL_VARIANTS = VARIANTS + ("index-hint", "reversed")


def read_tagged(text: str) -> dict[str, str]:
    """{tag: digit} of one tagged number, each tag once."""
    pairs = re.findall(r"([A-Za-z])(\d)", text)
    tags = [t for t, _ in pairs]
    assert len(set(tags)) == len(tags), f"a tag repeats in {text!r}"
    return dict(pairs)


def value(tags: dict[str, str]) -> int:
    """The integer of {tag: digit}: a later letter is a higher place; tags are consecutive."""
    order = sorted(tags, key=lambda t: ord(t.upper()))
    codes = [ord(t.upper()) for t in order]
    assert codes == list(range(codes[0], codes[0] + len(codes))), f"tags skip a place: {order}"
    return int("".join(tags[t] for t in reversed(order)))


def operands(prompt: str, reverse: bool) -> tuple[dict, dict]:
    x1, x2 = TAGGED.findall(prompt)
    assert x1[0::2].isupper() and x2[0::2].islower()
    for x in (x1, x2):  # written highest place first, or lowest first when reversed
        codes = [ord(c.upper()) for c in x[0::2]]
        step = 1 if reverse else -1
        assert codes == list(range(codes[0], codes[0] + step * len(codes), step)), x
    return read_tagged(x1), read_tagged(x2)


@pytest.mark.parametrize("split", sorted(LENGTHS))
@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_tagged_records_agree_with_an_independent_sum(split, variant):
    for i in range(N):
        r = synthesize("addition", split, 7, i, variant, LENGTHS[split], template=0,
                       notation="tagged", integer=True)
        a, b = operands(r["prompt"], reverse=variant == "reversed")
        assert len(a) == len(b) == r["length"]
        assert {t.lower() for t in a} == set(b), "x1 and x2 tag the same places"
        total = value(a) + value(b)
        assert r["answer"] == str(total)
        assert {"x1": str(value(a)), "x2": str(value(b))} == r["instance"]
        boxed = last_boxed(r["completion"])
        assert value(read_tagged(boxed)) == total and boxed[0].isupper()
        # the sum's tags continue x1's: its units tag is x1's units tag
        assert min(read_tagged(boxed), key=ord) == min(a, key=ord)
        assert score("addition", r["completion"], r["answer"])
        if variant in ("tail", "no-fetch", "no-atomic", "no-linear", "tail-styled"):
            check_fetches(r["completion"], a, b, total, variant)


def check_fetches(completion: str, a: dict, b: dict, total: int, variant: str):
    """Every fetched operand digit is the prompt's digit of that tag; every written sum digit
    is the sum's digit of that place; every place is added once, lowest first."""
    fetched = re.findall(r"x1 ?= ?([A-Z])(\d)", completion)
    assert all(a[tag] == d for tag, d in fetched)
    assert {t for t, _ in fetched} == (set() if variant == "no-fetch" else set(a))
    fetched = re.findall(r"x2 ?= ?([a-z])(\d)", completion)
    assert all(b[tag] == d for tag, d in fetched)
    assert {t for t, _ in fetched} == (set() if variant == "no-fetch" else set(b))
    units = ord(min(a, key=ord))
    for tag, d in re.findall(r"s\[([A-Z])\] ?= ?(\d)", completion):
        assert str(total // 10 ** (ord(tag) - units) % 10) == d
    added = re.findall(r"^(?:Now we )?add the digits at place ([A-Z])[:.]", completion, re.M)
    if variant in ("tail", "tail-styled", "no-fetch"):
        assert [ord(t) - units for t in added] == list(range(len(a)))


def test_offsets_vary_and_leave_room_for_the_carry():
    units = set()
    for i in range(300):
        r = synthesize("addition", "S", 1, i, "direct", (6, 6), 0, "tagged", True)
        a, _ = operands(r["prompt"], False)
        units.add(min(a, key=ord))
        assert max(read_tagged(last_boxed(r["completion"])), key=ord) <= "Z"
    assert len(units) == 26 - 7 + 1  # every offset that leaves a 7th place for the carry


def test_plain_records_are_unchanged_by_the_options():
    """The paper's notation stays the default, and `integer` only removes decimal points."""
    for i in range(50):
        plain = synthesize("addition", "M", 3, i, "tail", (3, 5))
        assert plain == synthesize("addition", "M", 3, i, "tail", (3, 5), None, "plain", False)
        integer = synthesize("addition", "M", 3, i, "tail", (3, 5), None, "plain", True)
        assert "." not in integer["instance"]["x1"] + integer["instance"]["x2"]
        assert integer["answer"] == str(int(integer["instance"]["x1"]) +
                                        int(integer["instance"]["x2"]))


def test_tagged_scoring():
    assert score("addition", r"\boxed{K1J0I7}", "107")
    assert score("addition", r"\boxed{107}", "107")
    assert not score("addition", r"\boxed{K1I0J7}", "107")   # out of order
    assert not score("addition", r"\boxed{K1J0H7}", "107")   # skips a place
    assert not score("addition", r"\boxed{K1J0I8}", "107")
    assert untag("C5B7A1") == "571"
    with pytest.raises(ValueError, match="skips or repeats"):
        untag("C5A1")


def test_bad_requests_name_the_fix():
    with pytest.raises(ValueError, match="integer operands only"):
        synthesize("addition", "S", 1, 0, "tail", (3, 3), 0, "tagged", False)
    with pytest.raises(ValueError, match="has no 'tagged' notation"):
        synthesize("compare", "S", 1, 0, "tail", (3, 3), 0, "tagged", False)
    with pytest.raises(ValueError, match="has no integer-only option"):
        synthesize("bubble_sort", "S", 1, 0, "tail", None, 0, "plain", True)
    with pytest.raises(ValueError, match="26 place tags"):
        synthesize("addition", "S", 1, 0, "tail", (26, 26), 0, "tagged", True)
    assert "tagged" in TASKS["addition"].notations
