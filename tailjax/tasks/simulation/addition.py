"""Simulation task: addition.

x1 + x2, each operand n digits with a decimal point allowed in either; exact sum. Extra
baselines: `index-hint` (every digit followed by a letter naming its place, lowercase a, b, ..
for the units, tens, .. and uppercase A, B, .. for tenths, hundredths, ..; places past 26 take
two letters, so one letter marks one place in both operands and the sum) and `reversed`
(operands and result written in reverse order); both answer directly, then box the sum in normal
notation. Option `integer`: integer operands only. Notation `tagged` (`PlaceTags`): every digit
followed by a random letter naming its place, in every variant.
Symmetry folded: the operands' order (x1 + x2 = x2 + x1).
"""

from __future__ import annotations

import random
import re
import string

from tailjax.tasks.numbers import places, sample_decimal
from tailjax.tasks.registry import Task, register, sorted_pair
from tailjax.tasks.scoring import canonical_decimal
from tailjax.tasks.simulation.columns import PLAIN, _align, _padded, _read_digits
from tailjax.tasks.trace import Trace


def _add_sample(rng: random.Random, n: int) -> dict:
    return {"x1": sample_decimal(rng, n), "x2": sample_decimal(rng, n)}


def _add_sample_integer(rng: random.Random, n: int) -> dict:
    return {"x1": sample_decimal(rng, n, point=False), "x2": sample_decimal(rng, n, point=False)}


ABOVE_TOP = "Z"
TAGS = string.ascii_uppercase.replace(ABOVE_TOP, "")


class PlaceTags:
    """The tagged notation of addition (TAIL with index hints, after arXiv 2402.09371): every
    digit of a number is followed by a letter that names its place, x1's and the sum's
    upper-case, x2's the same letter lower-case, so that every tag occurs once in the prompt.
    The letters are a random sample per record, in random order (`tags[i]` names place i, the
    units being place 0); the place above the operands' top (a sum's last carry) is always
    ABOVE_TOP, "Z". With tags "KDX", 571 is "5X7D1K" in x1 and "5x7d1k" in x2.

    A model then finds "the digit at place D" by its key: unordered letters give no ordinal to
    count with. (Consecutive letters at a random offset, tried first, let a model trained on
    2-6 digits fetch the digit at place "offset + k" by its position in the prompt; at 7 and
    9 digits it fetched the middle places' digits at random. See docs/results.) Inside the
    trace a fetched digit is written after its tag ("x1=D7"): the tag is the key, and in the
    prompt the digit stands right before the same tag, so a head that finds the tag reads the
    digit (and the next place's tag) from there. Integer operands only; at most len(TAGS) = 25
    digits per operand.
    """

    def __init__(self, tags: str):
        self.tags = tags

    @classmethod
    def draw(cls, instance: dict, rng: random.Random) -> "PlaceTags":
        """Distinct random letters (not ABOVE_TOP) for the operands' places."""
        if any("." in instance[k] for k in ("x1", "x2")):
            raise ValueError("the tagged notation writes integer operands only; sample with "
                             "the integer option (data.integer: true, --integer)")
        need = max(len(instance["x1"]), len(instance["x2"]))
        if need > len(TAGS):
            raise ValueError(f"the tagged notation has {len(TAGS)} place tags; an operand of "
                             f"{need} digits does not fit (use at most {len(TAGS)} digits)")
        return cls("".join(rng.sample(TAGS, need)))

    def place(self, p: int, operand: str = "x1") -> str:
        tag = self.tags[p] if p < len(self.tags) else ABOVE_TOP
        return tag.lower() if operand == "x2" else tag

    def number(self, x: str, operand: str = "x1") -> str:
        return "".join(d + self.place(p, operand) for p, d in sorted(places(x).items(),
                                                                      reverse=True))

    def restate(self, x: str, operand: str = "x1") -> str:
        """A whole number restated inside the trace, as the span of its places ("K..I"): its
        digits are fetched one place at a time where they are used. (Copying a whole operand
        is a skill tied to the lengths trained on: a model trained on up to 6 digits copied
        the last 6 digits of a 7-digit operand, and every fetch after it read the copy.)"""
        ps = places(x)
        return f"{self.place(max(ps), operand)}..{self.place(min(ps), operand)}"

    def digit(self, operand: str, p: int, d) -> tuple[str, str]:
        """A fetched operand digit, its tag first: ("x1", "K7"). The sum's digits keep bracket
        labels ("s[K]", "7"): x1's tags are the sum's."""
        if operand == "s":
            return f"s[{self.place(p)}]", str(d)
        return operand, self.place(p, operand) + str(d)


_TAGGED = re.compile(r"(?:\d[A-Z])+")


def untag(text: str) -> str:
    """The digits of a tagged number, highest place first as written ("5K7J1I" -> "571");
    every tag names one place. Raises ValueError."""
    if not _TAGGED.fullmatch(text):
        raise ValueError(f"not a tagged number: {text!r}")
    tags = text[1::2]
    if len(set(tags)) != len(tags):
        raise ValueError(f"tagged number {text!r} names a place twice")
    return text[0::2]


def canonical_sum(text: str) -> str:
    """canonical_decimal of a plain or a tagged ("5K7J1I") number."""
    t = text.strip()
    return canonical_decimal(untag(t) if _TAGGED.fullmatch(t) else t)


def _add_fields(inst: dict, nt=PLAIN) -> dict:
    return {"x1": nt.number(inst["x1"], "x1"), "x2": nt.number(inst["x2"], "x2")}


def _add_solve(inst: dict, nt=PLAIN) -> Trace:
    """The recording of addition; `nt` names places and writes numbers (PLAIN or PlaceTags)."""
    tr = Trace()
    x1, x2, hi, lo = _align(tr, inst, lambda hi, lo: f"add the digits at place {nt.place(lo)}",
                            nt, carry=0)
    p1, p2 = places(x1), places(x2)
    carry, s = 0, {}
    for p in range(lo, hi + 1):
        a, b = int(p1.get(p, "0")), int(p2.get(p, "0"))
        total = a + b + carry
        nxt = (f"add the digits at place {nt.place(p + 1)}" if p < hi
               else "write the last carry" if total >= 10 else "read the sum")
        s[p] = total % 10
        tr.state(f"add the digits at place {nt.place(p)}",
                 fetch=[nt.digit("x1", p, a), nt.digit("x2", p, b), ("carry", carry)],
                 compute=f"{a} + {b} + {carry} = {total}",
                 write=[nt.digit("s", p, s[p]), ("carry", total // 10)], goto=nxt,
                 loop="column")
        carry = total // 10
    if carry:
        s[hi + 1] = carry
        tr.state("write the last carry", fetch={"carry": carry},
                 write=[nt.digit("s", hi + 1, carry)], goto="read the sum")
    raw = _read_digits(s)
    answer = canonical_decimal(raw)
    tr.state("read the sum", fetch=[nt.digit("s", p, s[p]) for p in sorted(s, reverse=True)],
             compute=f"the digits read {nt.restate(raw)}", write={"sum": nt.restate(answer)})
    n1, n2 = nt.number(x1, "x1"), nt.number(x2, "x2")
    tr.note(f"We line up {n1} and {n2} at the decimal point: "
            f"{nt.number(_padded(x1, hi, lo), 'x1')} and {nt.number(_padded(x2, hi, lo), 'x2')}.")
    tr.note(f"Adding the columns from the right, carrying 1 whenever a column reaches 10, gives "
            f"the digits {nt.number(raw)}.")
    tr.note(f"So {n1} + {n2} = {nt.number(answer)}.")
    return tr.finish(nt.number(answer))


def _letters(i: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa, 27 -> ab, ... (bijective base 26)."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(ord("a") + r) + out
    return out


def index_hinted(x: str) -> str:
    """Every digit followed by the letters of its place: "12.5" -> "1b2a.5A"."""
    p = places(x)
    marks = {q: _letters(q) if q >= 0 else _letters(-q - 1).upper() for q in p}
    whole, _, frac = x.partition(".")
    hi = len(whole) - 1
    out = "".join(d + marks[hi - i] for i, d in enumerate(whole))
    if frac:
        out += "." + "".join(d + marks[-1 - i] for i, d in enumerate(frac))
    return out


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _rewrite_operands(inst: dict, prompt: str, form) -> str:
    """The prompt with each operand rewritten by `form` (the templates hold no other numbers)."""
    found = []

    def sub(m):
        if m.group() not in (inst["x1"], inst["x2"]):
            raise ValueError(f"addition prompt holds a number that is no operand: {m.group()!r}")
        found.append(m.group())
        return form(m.group())

    out = _NUMBER.sub(sub, prompt)
    if sorted(found) != sorted([inst["x1"], inst["x2"]]):
        raise ValueError(f"addition prompt does not show both operands: {prompt!r}")
    return out


def _add_index_hint(inst: dict, prompt: str, nt=PLAIN) -> tuple[str, str]:
    """Index hints. In the tagged notation the prompt already carries them: the completion is
    the tagged sum, then the box."""
    answer = _add_solve(inst, nt).answer
    if nt is not PLAIN:
        return prompt, f"{answer}\nSo the final answer is \\boxed{{{answer}}}"
    return (_rewrite_operands(inst, prompt, index_hinted),
            f"{index_hinted(answer)}\nSo the final answer is \\boxed{{{answer}}}")


def _reverse_tagged(x: str) -> str:
    """"5K7J1I" -> "1I7J5K": the tagged digits lowest place first."""
    pairs = [x[i:i + 2] for i in range(0, len(x), 2)]
    return "".join(reversed(pairs))


def _add_reversed(inst: dict, prompt: str, nt=PLAIN) -> tuple[str, str]:
    """Operands and result written lowest digit first; the box holds the sum as usual."""
    answer = _add_solve(inst, nt).answer
    if nt is not PLAIN:
        fields = _add_fields(inst, nt)
        for k in ("x1", "x2"):
            prompt = prompt.replace(fields[k], _reverse_tagged(fields[k]), 1)
        return prompt, f"{_reverse_tagged(answer)}\nSo the final answer is \\boxed{{{answer}}}"
    return (_rewrite_operands(inst, prompt, lambda x: x[::-1]),
            f"{answer[::-1]}\nSo the final answer is \\boxed{{{answer}}}")


ADD_TEMPLATES = (
    "What is {x1} + {x2}?",
    "Compute the sum of {x1} and {x2}.",
    "Add {x1} and {x2}. Give the exact result.",
    "Calculate {x1} plus {x2}.",
    "{x1} + {x2} = ?",
    "Find the exact value of {x1} + {x2}.",
    "A shop earned {x1} dollars in the morning and {x2} dollars in the afternoon. How many "
    "dollars did it earn in total?",
    "Two tanks hold {x1} litres and {x2} litres of water. How many litres do they hold "
    "together?",
    "A hiker walked {x1} metres before lunch and {x2} metres after lunch. What distance did the "
    "hiker walk in all?",
    "Please add these two numbers exactly: {x1} and {x2}.",
    "What do you get when you add {x2} to {x1}?",
    "A company's two branches reported revenues of {x1} and {x2}. What is the combined revenue?",
    "Sum the numbers {x1} and {x2}, keeping every digit.",
    "Evaluate the expression {x1} + {x2} without rounding.",
    "An astronomer measured two distances, {x1} km and {x2} km. What is their total in km?",
    "Determine the total of {x1} and {x2}.",
    "Add the large numbers below.\nFirst: {x1}\nSecond: {x2}",
    "A lab mixed {x1} grams of one powder with {x2} grams of another. How many grams is the "
    "mixture?",
    "Increase {x1} by {x2}. What is the result?",
    "Two invoices come to {x1} and {x2} euros. What is the total amount due in euros?",
    "x = {x1}, y = {x2}. What is x + y?",
    "A river carried {x1} tonnes of sediment one year and {x2} tonnes the next. How many tonnes "
    "in both years together?",
)


register(Task(
    name="addition", paradigm="simulation",
    ranges={"S": (10, 30), "M": (31, 40), "L": (41, 50)},
    sample=_add_sample, solve=_add_solve, templates=ADD_TEMPLATES, fields=_add_fields,
    canonical=canonical_sum, fold=sorted_pair("x1", "x2"),
    extra_variants={"index-hint": _add_index_hint, "reversed": _add_reversed},
    sample_integer=_add_sample_integer, notations={"tagged": PlaceTags.draw},
))
