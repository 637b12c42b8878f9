"""Simulation task: addition.

x1 + x2, each operand n digits with a decimal point allowed in either; exact sum. Extra
baselines: `index-hint` (every digit followed by a letter naming its place, lowercase a, b, ..
for the units, tens, .. and uppercase A, B, .. for tenths, hundredths, ..; places past 26 take
two letters, so one letter marks one place in both operands and the sum) and `reversed`
(operands and result written in reverse order); both answer directly, then box the sum in normal
notation. Option `integer`: integer operands only. Notation `tagged` (`PlaceTags`): every digit
followed by a letter naming its place, in every variant; its TAIL trace writes the sum on tape s
one place at a time, and the terse variants box the tape (`\\boxed{s}`, read by
`read_sum_tape`). `resume_tail` resumes such a trace mid-way (the data.resumed option).
Symmetry folded: the operands' order (x1 + x2 = x2 + x1).
"""

from __future__ import annotations

import random
import re
import string

from tailjax.tasks.numbers import from_places, places, sample_decimal
from tailjax.tasks.registry import Task, register, sorted_pair
from tailjax.tasks.scoring import canonical_decimal
from tailjax.tasks.simulation.columns import PLAIN, _align, _padded, _read_digits
from tailjax.tasks.trace import END_STATE, Trace


def _add_sample(rng: random.Random, n: int) -> dict:
    return {"x1": sample_decimal(rng, n), "x2": sample_decimal(rng, n)}


def _add_sample_integer(rng: random.Random, n: int) -> dict:
    return {"x1": sample_decimal(rng, n, point=False), "x2": sample_decimal(rng, n, point=False)}


# The place letters A-Z, interleaved: x1's (and the sum's) every other letter, x2's place the
# letter after x1's (run 27). n digits take 2 (n + 2) letters: below the units to the blank.
TAGS = string.ascii_uppercase
MAX_TAGGED_DIGITS = len(TAGS) // 2 - 2


class PlaceTags:
    """The tagged notation of addition: TAIL with index hints (after arXiv 2402.09371) whose
    answer is the tape its loop writes. Integer operands of one length n <= MAX_TAGGED_DIGITS.

    Letters: 2 (n + 2) consecutive capital letters of A-Z at a random offset per record, two
    per place: `tags[p + 1]` (every other letter) names x1's and the sum's place p, from p = -1
    (below the units) over 0 (the units) to n (the blank cell above the top); x2's place p is
    the letter after x1's. Every tag occurs once in the prompt.

    Prompt (`written`): each operand as its digit-tag pairs and a blank cell `_` tagged with the
    letter above its top, in a random order per operand but the units pair last. With x1's tags
    "JLNPR", 571 may read "7N_R5P1L" as x1 and "7O_S5Q1M" as x2.

    Trace (`_add_tape`): the first state names the units tag and writes the sentinel `s[J]=_`
    below it (where run 17's read of the sum stopped; run 21 kept it); then one state per place,
    lowest first: fetch `x1=L1, x2=M1, carry=0`, write `s[L]=2, carry=0`, go on to x1's next
    letter (two on), until the fetch returns the blank cells (`x1=R_, x2=S_`): "the operands
    end", the last carry is written there if there is one, and the trace ends. Nothing reads the
    sum back: the terse variants box the tape's name, `\\boxed{s}`, and the scorer reads the
    tape (`read_sum_tape`).

    Why each part (docs/results/length-generalization.md, the run named):
    - letters in alphabet order, but no order in the prompt: the next place is a fixed number of
      letters on, a finite table (run 13), while no prompt position tells a place (runs 4-12
      fetched by it);
    - x1's and x2's letters interleaved, in one case: a fetch confuses tags that never stood
      together in a trained prompt. With x2's letters x1's in lower case (runs 13-24) those were
      letters 6-9 apart; with x2's 13 on in the other half of A-Z (run 25), 6 apart, and letters
      8 apart within a half, since "the other half" told x2's apart. Interleaved, every distance
      from 1 to 2 n + 1 letters stands in each n-digit prompt, and no feature but the letter
      itself tells the operands apart (run 27). x2's letter stays a finite table of x1's, written
      beside it in every column;
    - the blank cell: the loop stops where a fetch returns `_`, not after a count (run 16);
    - the units pair last: the next prompt token sees its tag, so the first line names the right
      units tag at every length (run 17);
    - the tape answer: every copied list (a read of the sum, a boxed copy) stopped by count at a
      trained length (runs 16-20); the tape is written one place at a time (run 21).
    """

    def __init__(self, tags: str, orders: dict[str, list[int]]):
        """tags: the letters of places -1..n (n + 2, upper case); orders: per operand ("x1",
        "x2"), the places 0..n in the order the prompt writes their pairs."""
        self.tags = tags
        self.orders = orders

    @classmethod
    def draw(cls, instance: dict, rng: random.Random) -> "PlaceTags":
        """The letters and prompt orders of `instance`, drawn from `rng`: the offset, then x1's
        order, then x2's. ValueError for decimal operands, operands of different lengths, or
        more than MAX_TAGGED_DIGITS digits."""
        x1, x2 = instance["x1"], instance["x2"]
        if "." in x1 + x2:
            raise ValueError("the tagged notation writes integer operands only; sample with "
                             "the integer option (data.integer: true, --integer)")
        if len(x1) != len(x2):
            raise ValueError(f"the tagged notation writes operands of one length (its loop ends "
                             f"at both blank cells at once); got {len(x1)} and {len(x2)} digits")
        n = len(x1)
        if n > MAX_TAGGED_DIGITS:
            raise ValueError(f"the tagged notation has {len(TAGS)} place letters, 2 (n + 2) "
                             f"for two operands of n digits; an operand of {n} digits does not "
                             f"fit (use at most {MAX_TAGGED_DIGITS} digits)")
        start = rng.randrange(len(TAGS) - 2 * (n + 2) + 1)  # the letter below the units
        orders = {}
        for operand in ("x1", "x2"):
            above = list(range(1, n + 1))
            rng.shuffle(above)
            orders[operand] = above + [0]
        return cls(TAGS[start:start + 2 * (n + 2):2], orders)

    def place(self, p: int, operand: str = "x1") -> str:
        """The tag of place p (-1 below the units .. n the blank cell); x2's is the letter after
        x1's."""
        if not -1 <= p <= len(self.tags) - 2:
            raise ValueError(f"place {p} has no tag; the tags name places -1..{len(self.tags) - 2}")
        tag = self.tags[p + 1]
        return TAGS[TAGS.index(tag) + 1] if operand == "x2" else tag

    def number(self, x: str, operand: str = "x1") -> str:
        """x as a tagged number, highest place first ("5P7N1L"): the answer's form."""
        return "".join(d + self.place(p, operand) for p, d in sorted(places(x).items(),
                                                                      reverse=True))

    def written(self, x: str, operand: str, order=None) -> str:
        """Operand x as the prompt writes it: its digit-tag pairs and the blank cell above its
        top ("_R"), in the places of `order` (default: the drawn order of `operand`)."""
        cells = {**places(x), len(x): "_"}
        return "".join(cells[p] + self.place(p, operand)
                       for p in (self.orders[operand] if order is None else order))

    def digit(self, operand: str, p: int, d) -> tuple[str, str]:
        """A fetched operand digit, its tag first: ("x1", "L7"). The sum's cells keep bracket
        labels ("s[L]", "7"): x1's tags are the sum's."""
        if operand == "s":
            return f"s[{self.place(p)}]", str(d)
        return operand, self.place(p, operand) + str(d)


_TAGGED = re.compile(r"(?:\d[A-Z])+")


def untag(text: str) -> str:
    """The digits of a tagged number, highest place first as written ("5P7N1L" -> "571");
    every tag names one place. Raises ValueError."""
    if not _TAGGED.fullmatch(text):
        raise ValueError(f"not a tagged number: {text!r}")
    tags = text[1::2]
    if len(set(tags)) != len(tags):
        raise ValueError(f"tagged number {text!r} names a place twice")
    return text[0::2]


def canonical_sum(text: str) -> str:
    """canonical_decimal of a plain or a tagged ("5P7N1L") number."""
    t = text.strip()
    return canonical_decimal(untag(t) if _TAGGED.fullmatch(t) else t)


SUM_TAPE = "s"
_TAPE_CELL = re.compile(r"s\[([A-Z])\]=(\d)(?!\d)")


def read_sum_tape(completion: str) -> str | None:
    """The number a tagged terse completion wrote on tape s, as a tagged number highest place
    first ("1P0N7L"): the last digit written to each cell `s[TAG]=d`, the cells ordered by their
    letter (the sentinel `s[J]=_` is no digit). None when no digit is written on the tape.
    Addition's reader of `\\boxed{s}` (Task.tapes)."""
    cells = dict(_TAPE_CELL.findall(completion))  # a later write to a cell wins
    if not cells:
        return None
    return "".join(cells[t] + t for t in sorted(cells, key=TAGS.index, reverse=True))


def _add_fields(inst: dict, nt=PLAIN) -> dict:
    if isinstance(nt, PlaceTags):
        return {k: nt.written(inst[k], k) for k in ("x1", "x2")}
    return {"x1": nt.number(inst["x1"], "x1"), "x2": nt.number(inst["x2"], "x2")}


def _add_solve(inst: dict, nt=PLAIN) -> Trace:
    """The recording of addition: the paper's in the plain notation (PLAIN), the tape trace
    (`_add_tape`) in the tagged one."""
    if isinstance(nt, PlaceTags):
        return _add_tape(inst, nt)
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


def _add_tape(inst: dict, nt: PlaceTags) -> Trace:
    """The recording of addition in the tagged notation (see PlaceTags): the sum written on
    tape s place by place until the blank cells; the answer is that tape (Trace.tape "s")."""
    tr = Trace()
    x1, x2 = inst["x1"], inst["x2"]
    n = len(x1)
    tr.state("align the decimal points",
             fetch={"x1": nt.place(0, "x1") + "..", "x2": nt.place(0, "x2") + ".."},
             compute=f"the places start at {nt.place(0)}",
             write=[("x1", nt.place(0, "x1") + ".."), ("x2", nt.place(0, "x2") + ".."),
                    ("carry", 0), nt.digit("s", -1, "_")],
             goto=f"add the digits at place {nt.place(0)}")
    p1, p2 = places(x1), places(x2)
    carry, s = 0, {}
    for p in range(n):
        a, b = int(p1[p]), int(p2[p])
        total = a + b + carry
        s[p] = total % 10
        tr.state(f"add the digits at place {nt.place(p)}",
                 fetch=[nt.digit("x1", p, a), nt.digit("x2", p, b), ("carry", carry)],
                 compute=f"{a} + {b} + {carry} = {total}",
                 write=[nt.digit("s", p, s[p]), ("carry", total // 10)],
                 goto=f"add the digits at place {nt.place(p + 1)}", loop="column")
        carry = total // 10
    if carry:
        s[n] = carry
    tr.state(f"add the digits at place {nt.place(n)}",
             fetch=[nt.digit("x1", n, "_"), nt.digit("x2", n, "_"), ("carry", carry)],
             compute="the operands end", write=[nt.digit("s", n, carry)] if carry else [],
             goto=END_STATE, loop="column")
    answer = from_places(s)
    n1, n2 = nt.number(x1, "x1"), nt.number(x2, "x2")
    tr.note(f"We line up {n1} and {n2} at their units, {nt.place(0, 'x1')} and "
            f"{nt.place(0, 'x2')}.")
    tr.note(f"Adding the places from {nt.place(0)} up, carrying 1 whenever a place reaches 10, "
            f"gives the digits {nt.number(answer)}.")
    tr.note(f"So {n1} + {n2} = {nt.number(answer)}.")
    return tr.finish(nt.number(answer), tape=SUM_TAPE)


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
    if isinstance(nt, PlaceTags):
        return prompt, f"{answer}\nSo the final answer is \\boxed{{{answer}}}"
    return (_rewrite_operands(inst, prompt, index_hinted),
            f"{index_hinted(answer)}\nSo the final answer is \\boxed{{{answer}}}")


def _reverse_tagged(x: str) -> str:
    """"5P7N1L" -> "1L7N5P": the tagged digits lowest place first."""
    pairs = [x[i:i + 2] for i in range(0, len(x), 2)]
    return "".join(reversed(pairs))


def _add_reversed(inst: dict, prompt: str, nt=PLAIN) -> tuple[str, str]:
    """Operands and result written lowest digit first; the box holds the sum as usual. In the
    tagged notation each operand's pairs stand in place order, units first and the blank cell
    last (the prompt's random order has no reverse)."""
    answer = _add_solve(inst, nt).answer
    if isinstance(nt, PlaceTags):
        fields = _add_fields(inst, nt)
        for k in ("x1", "x2"):
            upward = nt.written(inst[k], k, range(len(inst[k]) + 1))
            prompt = prompt.replace(fields[k], upward, 1)
        return prompt, f"{_reverse_tagged(answer)}\nSo the final answer is \\boxed{{{answer}}}"
    return (_rewrite_operands(inst, prompt, lambda x: x[::-1]),
            f"{answer[::-1]}\nSo the final answer is \\boxed{{{answer}}}")


# A digit column of a tagged `tail` completion, as _add_tape records it and trace.render writes it.
_TAIL_COLUMN = re.compile(
    r"add the digits at place (?P<place>[A-Z]): x1=(?P=place)\d, x2=[A-Z]\d, carry=[01] ; "
    r"\d \+ \d \+ [01] = \d+ ; s\[(?P=place)\]=(?P<digit>\d), carry=(?P<carry>[01]) ; "
    r"-> add the digits at place (?P<next>[A-Z])")


def tail_columns(completion: str) -> list[re.Match]:
    """The digit columns of a tagged `tail` addition completion (its lines 1..n, each a match of
    its place, digit, carry and next place). ValueError when the completion is none."""
    lines = completion.split("\n")
    columns = []
    for line in lines[1:]:
        match = _TAIL_COLUMN.fullmatch(line)
        if match is None:
            break
        columns.append(match)
    if not columns or not lines[0].startswith("align the decimal points: "):
        raise ValueError(f"not a tagged `tail` addition completion: {completion[:80]!r}")
    return columns


def resume_tail(completion: str, done: int) -> tuple[str, str]:
    """A tagged `tail` addition completion resumed after its first `done` digit columns
    (1 <= done <= len(tail_columns(completion))): (context, rest).

    context is the completion's first line and one line standing for those columns, e.g.
    `resume at place P: the sum so far is 9N0L, carry=1 ; -> add the digits at place P` (the
    sum's digits so far, highest place first, each before its tag, and the carry into place P),
    each line ending in a newline; rest is the completion from place P's line on. Training on
    such records (data.resumed, data.pipeline.Encoder) makes "how many columns were written"
    differ from "which place this is" inside the trained lengths (docs/results, runs 18, 21).
    ValueError when the completion is no such trace or `done` is out of range.
    """
    columns = tail_columns(completion)
    if not 1 <= done <= len(columns):
        raise ValueError(f"cannot resume after {done} columns: the trace has 1..{len(columns)}")
    so_far = "".join(m["digit"] + m["place"] for m in reversed(columns[:done]))
    last = columns[done - 1]
    summary = (f"resume at place {last['next']}: the sum so far is {so_far}, "
               f"carry={last['carry']} ; -> add the digits at place {last['next']}")
    lines = completion.split("\n")
    return lines[0] + "\n" + summary + "\n", "\n".join(lines[1 + done:])


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
    tapes={SUM_TAPE: read_sum_tape},
))
