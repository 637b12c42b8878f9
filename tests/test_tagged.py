"""Addition's tagged notation (place tags at a random offset) and the integer-only option,
checked against an independent reading of the prompt: nothing here uses the solver's code."""

from __future__ import annotations

import re

import pytest

from tailjax.tasks import TASKS, last_boxed, score, synthesize
from tailjax.tasks.simulation.addition import untag
from tailjax.tasks.trace import VARIANTS

TAGGED = re.compile(r"((?:\d[A-Za-z])+)")
N = 200  # instances per split and variant
LENGTHS = {"S": (2, 6), "M": (7, 8), "L": (9, 10)}
ALL_VARIANTS = VARIANTS + ("index-hint", "reversed")


def read_tagged(text: str) -> dict[str, str]:
    """{tag: digit} of one tagged number, each tag once."""
    pairs = re.findall(r"(\d)([A-Za-z])", text)
    tags = [t for _, t in pairs]
    assert len(set(tags)) == len(tags), f"a tag repeats in {text!r}"
    return {t: d for d, t in pairs}


def operands(prompt: str, reverse: bool) -> tuple[str, str]:
    """x1 and x2 of a tagged prompt as written, highest place first."""
    x1, x2 = TAGGED.findall(prompt)
    assert x1[1::2].isupper() and x2[1::2].islower()
    if reverse:
        x1, x2 = ("".join(reversed([x[i:i + 2] for i in range(0, len(x), 2)])) for x in (x1, x2))
    read_tagged(x1), read_tagged(x2)  # every tag once
    return x1, x2


def value(tagged: str) -> int:
    return int(tagged[0::2])


def places_of(x1: str) -> dict[str, int]:
    """{tag: place} from x1 as written (highest first); "Z" is the place above the top."""
    tags = x1[1::2]
    return {**{t: len(tags) - 1 - i for i, t in enumerate(tags)}, "Z": len(tags)}


@pytest.mark.parametrize("split", sorted(LENGTHS))
@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_tagged_records_agree_with_an_independent_sum(split, variant):
    for i in range(N):
        r = synthesize("addition", split, 7, i, variant, LENGTHS[split], template=0,
                       notation="tagged", integer=True)
        a, b = operands(r["prompt"], reverse=variant == "reversed")
        assert len(a) == len(b) == 2 * r["length"]
        assert a[1::2].lower() == b[1::2], "x1 and x2 tag each place with the same letter"
        assert "Z" not in a, "Z is kept for the place above the top"
        total = value(a) + value(b)
        assert r["answer"] == str(total)
        assert r["answer"] == TASKS["addition"].reference_answer(r["instance"])
        assert {"x1": str(value(a)), "x2": str(value(b))} == r["instance"]
        boxed = last_boxed(r["completion"])
        assert value(boxed) == total
        place = places_of(a)
        tags = boxed[1::2]
        assert [place[t] for t in tags] == list(range(len(tags) - 1, -1, -1))
        assert score("addition", r["completion"], r["answer"])
        if variant in ("tail", "no-fetch", "no-atomic", "no-linear", "tail-styled"):
            check_fetches(r["completion"], read_tagged(a), read_tagged(b), total, variant,
                          place)


def check_fetches(completion: str, a: dict, b: dict, total: int, variant: str, place: dict):
    """Every fetched operand digit is the prompt's digit of that tag; every written sum digit
    is the sum's digit of that place; every place is added once, lowest first."""
    fetched = re.findall(r"x1 ?= ?([A-Z])(\d)", completion)
    assert all(a[tag] == d for tag, d in fetched)
    assert {t for t, _ in fetched} == (set() if variant == "no-fetch" else set(a))
    fetched = re.findall(r"x2 ?= ?([a-z])(\d)", completion)
    assert all(b[tag] == d for tag, d in fetched)
    assert {t for t, _ in fetched} == (set() if variant == "no-fetch" else set(b))
    for tag, d in re.findall(r"s\[([A-Z])\] ?= ?(\d)", completion):
        assert str(total // 10 ** place[tag] % 10) == d
    added = re.findall(r"^(?:Now we )?add the digits at place ([A-Z])[:.]", completion, re.M)
    if variant in ("tail", "tail-styled", "no-fetch"):
        assert [place[t] for t in added] == list(range(len(a)))


def test_tags_are_random_letters_and_z_names_the_carry_place():
    units, orders = set(), set()
    for i in range(300):
        r = synthesize("addition", "S", 1, i, "direct", (6, 6), 0, "tagged", True)
        a, _ = operands(r["prompt"], False)
        units.add(a[-1])
        orders.add(a[1::2])
        boxed = last_boxed(r["completion"])
        assert boxed[1] == "Z" if len(boxed) == 14 else len(boxed) == 12
    assert len(units) == 25 and len(orders) == 300


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
    assert score("addition", r"\boxed{1K0D7X}", "107")
    assert score("addition", r"\boxed{107}", "107")
    assert not score("addition", r"\boxed{1K0D7K}", "107")   # names a place twice
    assert not score("addition", r"\boxed{1K0D8X}", "107")
    assert not score("addition", r"\boxed{1k0d7x}", "107")   # x2's tags are no sum
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
    with pytest.raises(ValueError, match="25 place tags"):
        synthesize("addition", "S", 1, 0, "tail", (26, 26), 0, "tagged", True)
    assert "tagged" in TASKS["addition"].notations
