"""Simulation: the solver simulates the procedure a person runs by hand, step by step.

- addition: x1 + x2, each operand n digits with a decimal point allowed in either; exact sum.
  Extra baselines: `index-hint` (every digit followed by a letter naming its place, lowercase
  a, b, .. for the units, tens, .. and uppercase A, B, .. for tenths, hundredths, ..; places past
  26 take two letters, so one letter marks one place in both operands and the sum) and
  `reversed` (operands and result written in reverse order); both answer directly, then box the
  sum in normal notation. Option `integer`: integer operands only. Notation `tagged`
  (`PlaceTags`): every digit followed by a random letter naming its place, in every variant. Symmetry folded: the operands' order (x1 + x2 = x2 + x1).
- division: x1 / x2, the dividend n digits and the divisor 1 or 2 digits, each with a decimal
  point allowed. Precision rule: the answer is the quotient TRUNCATED toward zero to 3 decimal
  places (floor(1000 * x1 / x2) / 1000, trailing zeros dropped), which is exact: it is what
  long division gives when stopped at the thousandths. The divisor stays short so each long
  division step (one quotient digit) is one elementary computation. Symmetry folded: none.
- bubble_sort: n distinct integers 0..99, sorted ascending with passes that stop early once a
  pass makes no swap; the answer is the sorted list "a, b, c". Symmetry folded: the order of
  the numbers (every order of the same numbers has the same answer).
- word_flip: a sentence of lowercase words with n letters in all; the answer is the sentence
  reversed character by character (spaces stay where the reversal puts them). Symmetry folded:
  none.
- compare: x1 vs x2, each n digits with a decimal point allowed; the answer is the larger number.
  Half of the pairs share a prefix so that the deciding place is anywhere. Symmetry folded: the
  operands' order (the larger of x1, x2 is the larger of x2, x1).
"""

from __future__ import annotations

import random
import re
import string

from tailjax.tasks.registry import Task, register, sorted_pair
from tailjax.tasks.trace import Trace
from tailjax.tasks.scoring import canonical_decimal
from tailjax.tasks.numbers import place_range, places, sample_decimal

# --- addition -----------------------------------------------------------------------------------


def _padded(x: str, hi: int, lo: int) -> str:
    """x written over places hi..lo with zeros filled in (the decimal point kept when lo < 0)."""
    p = places(x)
    whole = "".join(p.get(i, "0") for i in range(hi, -1, -1))
    frac = "".join(p.get(i, "0") for i in range(-1, lo - 1, -1))
    return whole + ("." + frac if frac else "")


def _read_digits(digits: dict[int, int]) -> str:
    """The digits high to low with the decimal point, as written (zeros kept)."""
    hi, lo = max(digits), min(digits)
    whole = "".join(str(digits[p]) for p in range(hi, -1, -1))
    frac = "".join(str(digits[p]) for p in range(-1, lo - 1, -1))
    return whole + ("." + frac if frac else "")


def _add_sample(rng: random.Random, n: int) -> dict:
    return {"x1": sample_decimal(rng, n), "x2": sample_decimal(rng, n)}


def _add_sample_integer(rng: random.Random, n: int) -> dict:
    return {"x1": sample_decimal(rng, n, point=False), "x2": sample_decimal(rng, n, point=False)}


class PlainPlaces:
    """The paper's notation: a place is its number (x1[0] is the units digit of x1), numbers are
    written as they are."""

    def place(self, p: int, operand: str = "x1") -> str:
        return str(p)

    def number(self, x: str, operand: str = "x1") -> str:
        return x

    def restate(self, x: str, operand: str = "x1") -> str:
        return x

    def digit(self, operand: str, p: int, d) -> tuple[str, str]:
        """The (label, value) pair of a fetched or written digit: ("x1[3]", "7")."""
        return f"{operand}[{p}]", str(d)


PLAIN = PlainPlaces()
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


def _align(tr: Trace, inst: dict, goto, nt=PLAIN, **extra):
    """The first state of addition and comparison: line the operands up on their decimal points
    (places hi down to lo, lo <= 0). `goto(hi, lo)` names the next state; returns
    (x1, x2, hi, lo)."""
    x1, x2 = inst["x1"], inst["x2"]
    hi, lo = place_range(x1, x2)
    lo = min(lo, 0)
    tr.state("align the decimal points",
             fetch={"x1": nt.restate(x1, "x1"), "x2": nt.restate(x2, "x2")},
             compute=f"the places run from {nt.place(hi)} down to {nt.place(lo)}",
             write={"x1": nt.restate(_padded(x1, hi, lo), "x1"),
                    "x2": nt.restate(_padded(x2, hi, lo), "x2"), **extra},
             goto=goto(hi, lo))
    return x1, x2, hi, lo


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

# --- division -------------------------------------------------------------------------------------

DIV_PRECISION = 3  # decimal places kept, by truncation


def _div_sample(rng: random.Random, n: int) -> dict:
    return {"x1": sample_decimal(rng, n), "x2": sample_decimal(rng, rng.randint(1, 2))}


def _shift(x: str, k: int) -> str:
    """x * 10**k for k >= 0, as a digit string."""
    whole, _, frac = x.partition(".")
    frac = frac + "0" * max(0, k - len(frac))
    whole, frac = whole + frac[:k], frac[k:]
    return canonical_decimal(whole + ("." + frac if frac else ""))


def _div_solve(inst: dict) -> Trace:
    x1, x2 = inst["x1"], inst["x2"]
    f2 = len(x2.partition(".")[2])
    dividend, divisor = _shift(x1, f2), int(x2.replace(".", ""))
    tr = Trace()
    d = places(dividend)
    hi, lo = max(d), -DIV_PRECISION
    shift = f"{x2} has {f2} decimal place{'' if f2 == 1 else 's'}"
    tr.state("shift the decimal points", fetch={"x1": x1, "x2": x2}, compute=shift,
             write={"dividend": dividend, "divisor": divisor, "r": 0},
             goto=f"divide at place {hi}")
    r, q = 0, {}
    for p in range(hi, lo - 1, -1):
        digit = int(d.get(p, "0"))
        c = 10 * r + digit
        q[p], r2 = divmod(c, divisor)
        tr.state(f"divide at place {p}", fetch={"r": r, f"d[{p}]": digit, "divisor": divisor},
                 compute=f"10 * {r} + {digit} = {c}, and {c} = {q[p]} * {divisor} + {r2}",
                 write={f"q[{p}]": q[p], "r": r2},
                 goto=f"divide at place {p - 1}" if p > lo else "read the quotient",
                 loop="place")
        r = r2
    raw = _read_digits(q)
    answer = canonical_decimal(raw)
    tr.state("read the quotient", fetch={f"q[{p}]": q[p] for p in sorted(q, reverse=True)},
             compute=f"the digits read {raw}", write={"quotient": answer})
    tr.note(f"Moving both decimal points {f2} place{'' if f2 == 1 else 's'} makes the divisor "
            "whole: "
            f"{x1} / {x2} = {dividend} / {divisor}.")
    tr.note(f"Long division, one digit at a time down to the thousandths, gives the digits {raw}, "
            f"with remainder {r} left over.")
    tr.note(f"Truncated to {DIV_PRECISION} decimal places, {x1} / {x2} = {answer}.")
    return tr.finish(answer)


_TRUNC = "truncated (not rounded) to 3 decimal places"
DIV_TEMPLATES = (
    "What is {x1} / {x2}? Give the quotient " + _TRUNC + ".",
    "Divide {x1} by {x2} and report the result " + _TRUNC + ".",
    "Compute {x1} divided by {x2}, " + _TRUNC + ".",
    "{x1} / {x2} = ? (quotient " + _TRUNC + ")",
    "Find the quotient of {x1} and {x2}, " + _TRUNC + ".",
    "A rope {x1} metres long is cut into pieces of {x2} metres. How many pieces is that, as a "
    "number " + _TRUNC + "?",
    "A family splits a bill of {x1} dollars into shares of {x2} dollars. How many shares is "
    "that? Answer " + _TRUNC + ".",
    "A car used {x2} litres of fuel per kilometre and {x1} litres in all. How many kilometres "
    "did it drive? Give the number " + _TRUNC + ".",
    "Calculate the ratio {x1} : {x2} as a decimal " + _TRUNC + ".",
    "How many times does {x2} go into {x1}? Answer with the quotient " + _TRUNC + ".",
    "A baker has {x1} kg of flour and each loaf needs {x2} kg. How many loaves is that, "
    + _TRUNC + "?",
    "Evaluate {x1} / {x2}. Keep 3 decimal places and drop the rest (truncate, do not round).",
    "Divide: dividend {x1}, divisor {x2}. Report the quotient " + _TRUNC + ".",
    "A tank of {x1} litres drains at {x2} litres per minute. How many minutes until it is "
    "empty? Answer " + _TRUNC + ".",
    "What is the result of dividing {x1} by {x2}? Write it " + _TRUNC + ".",
    "Share {x1} equally into parts of size {x2}. How many parts? Give the value " + _TRUNC + ".",
    "A runner covers {x1} km at {x2} km per hour. How many hours does it take? Answer "
    + _TRUNC + ".",
    "Give {x1} / {x2} as a decimal number " + _TRUNC + ".",
    "A printer prints {x2} pages per second. How many seconds for {x1} pages? Answer "
    + _TRUNC + ".",
    "x = {x1} and y = {x2}. What is x / y, " + _TRUNC + "?",
    "Work out the long division {x1} / {x2} down to the thousandths and report the quotient "
    "(truncate after 3 decimal places).",
    "An investor splits {x1} dollars into lots of {x2} dollars each. How many lots is that? "
    "Give the number " + _TRUNC + ".",
)

# --- bubble sort ----------------------------------------------------------------------------------


def _bubble_sample(rng: random.Random, n: int) -> dict:
    return {"numbers": rng.sample(range(100), n)}


def _list(xs) -> str:
    return ", ".join(map(str, xs))


def _bubble_solve(inst: dict) -> Trace:
    a = list(inst["numbers"])
    n = len(a)
    tr = Trace()
    passes = []
    for i in range(1, n):
        pairs = n - i
        first = "compare a[0] and a[1] in pass {}".format(i)
        tr.state(f"start pass {i}",
                 fetch={"pass": i, "n": n, **{f"a[{j}]": a[j] for j in range(n)}},
                 compute=f"{n} - {i} = {pairs} pair{'s' if pairs > 1 else ''} to compare",
                 write={"swapped": "no"},
                 goto=first)
        swapped = "no"
        for j in range(pairs):
            x, y = a[j], a[j + 1]
            name = f"compare a[{j}] and a[{j + 1}] in pass {i}"
            nxt = f"compare a[{j + 1}] and a[{j + 2}] in pass {i}" if j + 1 < pairs \
                else f"end pass {i}"
            fetch = {f"a[{j}]": x, f"a[{j + 1}]": y, "swapped": swapped}
            if x > y:
                a[j], a[j + 1] = y, x
                swapped = "yes"
                tr.state(name, fetch=fetch, compute=f"{x} > {y}, swap them",
                         write={f"a[{j}]": y, f"a[{j + 1}]": x, "swapped": "yes"}, goto=nxt,
                         loop=f"comparison of pass {i}")
            else:
                tr.state(name, fetch=fetch, compute=f"{x} < {y}, keep them", goto=nxt,
                         loop=f"comparison of pass {i}")
        passes.append(list(a))
        done = swapped == "no" or i == n - 1
        if swapped == "no":
            why = "swapped = no means the list is sorted"
        elif i == n - 1:
            why = f"swapped = yes but {i} = {n} - 1 passes are done"
        else:
            why = f"swapped = yes and {i} < {n} - 1"
        tr.state(f"end pass {i}", fetch={"swapped": swapped, "pass": i, "n": n}, compute=why,
                 goto="read the sorted list" if done else f"start pass {i + 1}")
        if done:
            break
    tr.state("read the sorted list", fetch={f"a[{j}]": a[j] for j in range(n)},
             write={"sorted": _list(a)})
    tr.note(f"Bubble sort passes over the {n} numbers, swapping neighbours that are out of order, "
            "until a pass makes no swap.")
    tr.note("After each pass the list reads: " + "; then ".join(_list(p) for p in passes) + ".")
    tr.note(f"So the sorted list is {_list(a)}.")
    return tr.finish(_list(a))


def canonical_int_list(text: str) -> str:
    """"[3,1, 2]" -> "3, 1, 2": integers separated by commas, brackets optional."""
    t = text.strip()
    if t[:1] in "[(" and t[-1:] in "])":
        t = t[1:-1]
    items = [s.strip() for s in t.split(",")]
    if not items or not all(re.fullmatch(r"-?\d+", s) for s in items):
        raise ValueError(f"not a comma-separated list of integers: {text!r}")
    return ", ".join(str(int(s)) for s in items)


BUBBLE_TEMPLATES = (
    "Sort the numbers {numbers} in increasing order using bubble sort.",
    "Use bubble sort to arrange [{numbers}] from smallest to largest.",
    "Put these {n} numbers in ascending order: {numbers}.",
    "Sort ascending: {numbers}",
    "Apply bubble sort to the list [{numbers}] and give the sorted list.",
    "A teacher recorded the test scores {numbers}. List them from lowest to highest.",
    "Arrange the following distinct integers in increasing order: {numbers}.",
    "Runners finished with bib numbers {numbers}. Write the bib numbers sorted from smallest to "
    "largest.",
    "Order the values {numbers} from least to greatest.",
    "Given the unsorted array [{numbers}], return it sorted in non-decreasing order.",
    "A warehouse has boxes weighing {numbers} kg. List the weights from lightest to heaviest.",
    "Sort this list with bubble sort, smallest first: {numbers}.",
    "The ages of {n} people are {numbers}. Sort the ages from youngest to oldest.",
    "Rearrange {numbers} so that every number is smaller than the one after it.",
    "Input: [{numbers}]\nTask: sort in ascending order.",
    "A librarian must shelve books with the codes {numbers} in increasing order. What is the "
    "order on the shelf?",
    "What is the list {numbers} after sorting it in increasing order?",
    "Daily temperatures this week were {numbers} degrees. List them from coldest to warmest.",
    "Bubble sort the sequence {numbers} (ascending) and report the result.",
    "Sort the {n} integers {numbers} from the smallest to the largest.",
    "A game shows the player scores {numbers}. Rank them from lowest score to highest score.",
    "Order these house numbers ascending: {numbers}.",
)
# What the scorer requires (Task.answer_rule): an ascending list.
BUBBLE_ANSWER = "Answer with the numbers in ascending order, comma-separated."

# --- word flip ------------------------------------------------------------------------------------

WORDS = """a i o u an at be by do go he if in is it me my no of on or so to up us we
and are big boy but can cat day dog eat far few fly fun get has her him his how man new not now
old one our out own red run say see she sky sun the too two was way who why yes you
also back blue book city come down each fast find fish from give good hand have help here home
into just kind know land life like long look make many more most much must name near next only
over part play rain read road room said same ship show side some star take tell than that them
then they this time tree very walk want warm well what when wind with word work year
about after again apple below black bring carry clean close could every field first found
green happy horse house large laugh learn light might money music never night ocean often other
paper place plant right river round small sound south still story table their there these thing
think three today under water where which while white world write young
animal answer before better bridge change circle corner dinner during enough family father
flower forest friend garden little middle minute moment mother number people person pretty
rabbit reason school second should simple spring street summer travel winter window yellow
another balance between brother company country evening example garden kitchen morning nothing
picture problem science student teacher thought weather without
computer daughter elephant exercise favorite hospital mountain question remember sentence
thousand together tomorrow vacation yourself
adventure beautiful breakfast butterfly chocolate community different excellent important
something speakable wonderful yesterday
""".split()
_BY_LEN: dict[int, list[str]] = {}
for _w in WORDS:
    _BY_LEN.setdefault(len(_w), []).append(_w)
assert set(_BY_LEN) >= set(range(1, 10)), "word flip needs words of every length 1..9"


def _flip_sample(rng: random.Random, n: int) -> dict:
    words, rem = [], n
    while rem:
        if rem <= 9 and (rem <= 3 or rng.random() < 0.35):
            k = rem
        else:
            k = rng.randint(2, min(9, rem - 1))
        words.append(rng.choice(_BY_LEN[k]))
        rem -= k
    return {"sentence": " ".join(words)}


def _q(c: str) -> str:
    return f"'{c}'"


def _flip_solve(inst: dict) -> Trace:
    s = inst["sentence"]
    m = len(s)
    tr = Trace()
    tr.state("measure the sentence", fetch={"sentence": f'"{s}"'},
             compute=f"it has {m} characters, the last at index {m - 1}",
             write={"length": m}, goto=f"copy character {m - 1}")
    for k in range(m):
        i = m - 1 - k
        tr.state(f"copy character {i}", fetch={f"s[{i}]": _q(s[i]), "length": m},
                 compute=f"{m} - 1 - {i} = {k}", write={f"r[{k}]": _q(s[i])},
                 goto=f"copy character {i - 1}" if i else "read the flipped sentence",
                 loop="character")
    answer = s[::-1]
    tr.state("read the flipped sentence", fetch={f"r[{k}]": _q(answer[k]) for k in range(m)},
             write={"flipped": f'"{answer}"'})
    letters = sum(c.isalpha() for c in s)
    tr.note(f"The sentence has {m} characters: {letters} letters and {m - letters} spaces.")
    tr.note("Writing its characters from the last to the first, spaces included, gives the "
            f"flipped sentence \"{answer}\".")
    return tr.finish(answer)


def _canonical_text(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        t = t[1:-1]
    return t


FLIP_TEMPLATES = (
    'Reverse the sentence "{sentence}" character by character.',
    'Flip the text "{sentence}" so that it reads backwards, letter by letter.',
    'Write "{sentence}" in reverse order of its characters, keeping the spaces.',
    'What is the character-level reversal of "{sentence}"?',
    'Reverse every character of the following sentence: "{sentence}"',
    'A spy writes messages backwards to hide them. How would the spy write "{sentence}"?',
    'Spell "{sentence}" from the last character to the first.',
    'Mirror the string "{sentence}" (reverse all characters, spaces included).',
    'Input: "{sentence}"\nOutput the input reversed character by character.',
    'A child reads the sign "{sentence}" starting from the end. What does the child read, '
    'character by character?',
    'Give the reverse of the string "{sentence}".',
    'Turn "{sentence}" around so the last character comes first.',
    'Word flip task: reverse "{sentence}" at the character level.',
    'A printer jammed and printed "{sentence}" backwards. What did it print?',
    'Read "{sentence}" backwards, one character at a time, and write down the result.',
    'Return the string "{sentence}" reversed.',
    'If you hold the note "{sentence}" up to a mirror and read it right to left, which '
    'characters appear in order?',
    'Produce the reversed version of the sentence "{sentence}", keeping its spaces.',
    'Invert the order of the characters in "{sentence}".',
    'A puzzle asks you to write "{sentence}" backwards. What is the answer?',
    'Reverse this sentence character by character: {sentence}',
    'What does "{sentence}" become when all of its characters are reversed?',
)

# --- compare --------------------------------------------------------------------------------------


def _cmp_sample(rng: random.Random, n: int) -> dict:
    x1 = sample_decimal(rng, n)
    while True:
        if rng.random() < 0.5:
            x2 = _near(rng, x1)
        else:
            x2 = sample_decimal(rng, n)
        if x2 != x1:
            return {"x1": x1, "x2": x2}


def _near(rng: random.Random, x: str) -> str:
    """A number with x's digit count and point, equal to x on a random prefix of its digits."""
    ds = [c for c in x if c != "."]
    n = len(ds)
    k = rng.randint(0, n - 1)
    has_point = "." in x
    out = ds[:k]
    for i in range(k, n):
        low = 1 if i == 0 or (has_point and i == n - 1) else 0
        choices = [str(v) for v in range(low, 10) if i != k or str(v) != ds[k]]
        out.append(rng.choice(choices) if choices else ds[i])
    cut = x.find(".")
    return "".join(out) if cut < 0 else "".join(out[:cut]) + "." + "".join(out[cut:])


def _cmp_solve(inst: dict) -> Trace:
    tr = Trace()
    x1, x2, hi, lo = _align(tr, inst, lambda hi, lo: f"compare the digits at place {hi}")
    p1, p2 = places(x1), places(x2)
    for p in range(hi, lo - 1, -1):
        a, b = int(p1.get(p, "0")), int(p2.get(p, "0"))
        name = f"compare the digits at place {p}"
        fetch = {f"x1[{p}]": a, f"x2[{p}]": b}
        if a == b:
            tr.state(name, fetch=fetch, compute=f"{a} = {b}",
                     goto=f"compare the digits at place {p - 1}", loop="place")
            continue
        larger = "x1" if a > b else "x2"
        tr.state(name, fetch=fetch, compute=f"{a} {'>' if a > b else '<'} {b}",
                 write={"larger": larger}, goto="name the larger number", loop="place")
        break
    else:
        raise ValueError(f"compare instance has equal numbers: {x1} and {x2}")
    answer = x1 if larger == "x1" else x2
    tr.state("name the larger number", fetch={"larger": larger, larger: answer},
             write={"answer": answer})
    tr.note(f"We line up {x1} and {x2} at the decimal point and compare them place by place "
            "from the left.")
    tr.note(f"They first differ at place {p}, where {larger} has the larger digit ({max(a, b)} "
            f"against {min(a, b)}).")
    tr.note(f"So the larger number is {answer}.")
    return tr.finish(answer)


CMP_TEMPLATES = (
    "Which is larger, {x1} or {x2}? Answer with the larger number.",
    "Compare {x1} and {x2} and give the bigger one.",
    "Which number is greater: {x1} or {x2}?",
    "Return the maximum of {x1} and {x2}.",
    "Of the two numbers {x1} and {x2}, write down the larger.",
    "Two bids were placed at an auction: {x1} and {x2}. Which bid wins (the higher one)?",
    "max({x1}, {x2}) = ?",
    "Two mountains are {x1} and {x2} metres high. What is the height of the taller one?",
    "Find the larger value among {x1} and {x2}.",
    "A scientist measured {x1} and {x2} in two experiments. Report the larger measurement.",
    "Which of these is bigger? A: {x1}  B: {x2}. Write the bigger number.",
    "Two stores offer prices of {x1} and {x2} for the same service. Which price is higher?",
    "Determine which is greater, {x1} or {x2}, and state that number.",
    "x = {x1}, y = {x2}. Which of x and y is larger? Give its value.",
    "Two athletes threw the javelin {x1} and {x2} metres. How far was the longer throw?",
    "Compare the numbers below and output the larger one.\n{x1}\n{x2}",
    "Pick the greater of {x1} and {x2}.",
    "Two cities have populations recorded as {x1} and {x2}. What is the larger figure?",
    "Between {x1} and {x2}, which number has the larger value?",
    "A sensor logged {x1} and then {x2}. What was the higher reading?",
    "Identify the larger of the numbers {x1} and {x2}.",
    "Two savings accounts hold {x1} and {x2} dollars. How much does the richer account hold?",
)


def _xy(inst: dict) -> dict:
    return {"x1": inst["x1"], "x2": inst["x2"]}


def _numbers(inst: dict) -> dict:
    return {"numbers": _list(inst["numbers"]), "n": len(inst["numbers"])}


register(Task(
    name="addition", paradigm="simulation",
    ranges={"S": (10, 30), "M": (31, 40), "L": (41, 50)},
    sample=_add_sample, solve=_add_solve, templates=ADD_TEMPLATES, fields=_add_fields,
    canonical=canonical_sum, fold=sorted_pair("x1", "x2"),
    extra_variants={"index-hint": _add_index_hint, "reversed": _add_reversed},
    sample_integer=_add_sample_integer, notations={"tagged": PlaceTags.draw},
))
register(Task(
    name="division", paradigm="simulation",
    ranges={"S": (2, 5), "M": (6, 10), "L": (11, 20)},
    sample=_div_sample, solve=_div_solve, templates=DIV_TEMPLATES, fields=_xy,
    canonical=canonical_decimal,
))
register(Task(
    name="bubble_sort", paradigm="simulation",
    ranges={"S": (2, 4), "M": (5, 6), "L": (7, 8)},
    sample=_bubble_sample, solve=_bubble_solve, templates=BUBBLE_TEMPLATES, fields=_numbers,
    canonical=canonical_int_list, fold=lambda inst: {"numbers": sorted(inst["numbers"])},
    answer_rule=BUBBLE_ANSWER,
))
register(Task(
    name="word_flip", paradigm="simulation",
    ranges={"S": (10, 20), "M": (21, 50), "L": (51, 100)},
    sample=_flip_sample, solve=_flip_solve, templates=FLIP_TEMPLATES,
    fields=lambda inst: {"sentence": inst["sentence"]}, canonical=_canonical_text,
))
register(Task(
    name="compare", paradigm="simulation",
    ranges={"S": (5, 10), "M": (11, 20), "L": (21, 50)},
    sample=_cmp_sample, solve=_cmp_solve, templates=CMP_TEMPLATES, fields=_xy,
    canonical=canonical_decimal, fold=sorted_pair("x1", "x2"),
))
