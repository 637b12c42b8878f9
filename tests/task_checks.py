"""Generic checks every task of the suite must pass, shared by the task test files.

A task test supplies what only it knows, an independent computation of the answer (sharing no
code with the solver), and calls `check_task`:

    from task_checks import check_task

    def test_addition(split):
        check_task("addition", split, independent=lambda inst: ..., length_of=lambda inst: ...)

For `n` random instances of the split, `check_task` solves each instance ONCE and renders every
variant from that one trace (fast), and checks:

- the instance is JSON (what a record stores) and has the drawn length (`length_of`);
- the answer equals `independent(instance)` and `Task.reference_answer(instance)`, and is in
  canonical form;
- the trace is a TAIL trace: every state fetches its operands, does something, and its
  transition names the next state (unique names), the last one going to END;
- every prompt template formats, and prompts and completions are printable ASCII;
- every variant's completion ends with `\\boxed{answer}`; `score` accepts it and rejects the
  completion with a perturbed answer (`perturb`, default: change the last digit or letter);
- each ablation differs from `tail` in exactly the module it removes (see trace.py).
"""

from __future__ import annotations

import json
import random
import re

from tailjax.tasks import get_task, render, score, synthesize, RECORD_KEYS
from tailjax.tasks.trace import END_STATE, NO_ATOMIC_CHUNK, boxed
from tailjax.tokenizer import CharTokenizer

MIN_TEMPLATES = 20
MAX_PLAIN_COT_LINES = 12  # plain-cot is not unrolled: its length must not grow with n
_CHAR = CharTokenizer()


def perturb_answer(answer: str) -> str:
    """A wrong answer close to `answer`: its last digit (else its last letter) changed."""
    for i in range(len(answer) - 1, -1, -1):
        c = answer[i]
        if c.isdigit():
            return answer[:i] + str((int(c) + 1) % 10) + answer[i + 1:]
    for i in range(len(answer) - 1, -1, -1):
        c = answer[i]
        if c.isalpha():
            nxt = "a" if c.lower() == "z" else chr(ord(c.lower()) + 1)
            return answer[:i] + (nxt.upper() if c.isupper() else nxt) + answer[i + 1:]
    return answer + "0"


def assert_ascii(text: str, what: str):
    try:
        _CHAR.encode(text)
    except ValueError as e:
        raise AssertionError(f"{what} is not printable ASCII: {e}") from None


def _kv(pairs) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs)


def check_trace_shape(trace):
    """Linear transitions and memory fetches: the TAIL properties a recording must have."""
    states = trace.states
    assert states, "the solver recorded no state"
    names = [s.name for s in states]
    assert len(set(names)) == len(names), f"state names repeat, transitions are ambiguous: {names}"
    for s, nxt in zip(states, states[1:]):
        assert s.goto == nxt.name, f"state {s.name!r} goes to {s.goto!r}, not to {nxt.name!r}"
    assert states[-1].goto == END_STATE
    for s in states:
        assert s.fetch, f"state {s.name!r} fetches no operand (memory fetcher)"
        assert s.compute or s.write, f"state {s.name!r} neither computes nor writes"
        for text in (s.name, s.compute, _kv(s.fetch), _kv(s.write)):
            assert "\n" not in text and "->" not in text, f"state {s.name!r}: {text!r}"


def check_ablations(trace):
    """Each ablation differs from `tail` only in the module it removes."""
    states = trace.states
    tail = render(trace, "tail").split("\n")
    assert len(tail) == len(states) + 1
    for s, line in zip(states, tail):
        assert line.startswith(f"{s.name}: ") and line.endswith(f" ; -> {s.goto}"), line
        for part in (_kv(s.fetch), s.compute, _kv(s.write)):
            assert part in line, (part, line)

    # no-fetch: the same lines with the fetch section cut out, nothing else touched.
    no_fetch = render(trace, "no-fetch").split("\n")
    assert len(no_fetch) == len(tail) and no_fetch[-1] == tail[-1]
    for s, full, cut in zip(states, tail, no_fetch):
        head = f"{s.name}: "
        assert cut == head + full[len(head):].replace(_kv(s.fetch) + " ; ", "", 1), (full, cut)

    # no-linear: every state's body kept in order, without labels or transitions; loops nested.
    no_linear = render(trace, "no-linear").split("\n")
    assert no_linear[-1] == tail[-1]
    bodies = [ln for ln in no_linear[:-1] if not ln.startswith("for each ")]
    assert len(bodies) == len(states)
    for s, full, body in zip(states, tail, bodies):
        inner = full[len(f"{s.name}: "):-len(f" ; -> {s.goto}")]
        assert body == ("  " if s.loop else "") + inner, (full, body)
        assert "->" not in body
    assert sum(ln.startswith("for each ") for ln in no_linear) == sum(
        1 for i, s in enumerate(states) if s.loop and (i == 0 or states[i - 1].loop != s.loop))

    # no-atomic: straight-line states untouched; each run of one loop merged into coarse states
    # of NO_ATOMIC_CHUNK iterations that keep fetches and transitions, keep the last value of each
    # label written and drop the per-iteration computations.
    no_atomic = render(trace, "no-atomic").split("\n")
    assert no_atomic[-1] == tail[-1]
    expected_lines, i, out = 0, 0, iter(no_atomic[:-1])
    while i < len(states):
        s = states[i]
        if s.loop is None:
            assert next(out) == tail[i]
            i, expected_lines = i + 1, expected_lines + 1
            continue
        j = i
        while j < len(states) and states[j].loop == s.loop:
            j += 1
        for c in range(i, j, NO_ATOMIC_CHUNK):
            chunk = states[c:min(c + NO_ATOMIC_CHUNK, j)]
            line = next(out)
            expected_lines += 1
            assert line.startswith(chunk[0].name) and line.endswith(f"-> {chunk[-1].goto}")
            assert _kv(chunk[0].fetch) in line, (chunk[0].fetch, line)
            last = {}
            for st in chunk:
                last.update(st.write)
            for k, v in last.items():
                assert f"{k}={v}" in line, (k, v, line)
            if len(chunk) > 1:
                for st in chunk:
                    if len(st.compute) >= 5:
                        assert st.compute not in line, (st.compute, line)
        i = j
    assert len(no_atomic) == expected_lines + 1
    if any(s.loop for s in states) and any(
            a.loop and a.loop == b.loop for a, b in zip(states, states[1:])):
        assert len(no_atomic) < len(tail), "no-atomic merged no state of a loop"

    # tail-styled: the same states, in sentences.
    styled = render(trace, "tail-styled")
    assert styled.count("Now we ") == len(states)
    for s in states:
        assert f"Now we {s.name}." in styled
    # plain-cot: a short explanation, not unrolled.
    cot = render(trace, "plain-cot").split("\n")
    assert 2 <= len(cot) <= MAX_PLAIN_COT_LINES, cot
    assert not any("->" in ln for ln in cot)
    assert render(trace, "direct") == boxed(trace.answer)


def check_completion(task, completion: str, answer: str, perturb=perturb_answer):
    assert completion.endswith(boxed(answer)), completion[-200:]
    assert score(task, completion, answer), completion[-200:]
    wrong = perturb(answer)
    if _parses(task, wrong):
        assert task.canonical(wrong) != task.canonical(answer), (wrong, answer)
    cut = completion[:-len(boxed(answer))] + boxed(wrong)
    assert not score(task, cut, answer), (wrong, answer)


def _parses(task, text) -> bool:
    try:
        task.canonical(text)
        return True
    except ValueError:
        return False


def check_templates(task, instance):
    assert len(task.templates) >= MIN_TEMPLATES, \
        f"{task.name}: only {len(task.templates)} templates"
    prompts = [t.format(**task.fields(instance)) for t in task.templates]
    assert len(set(prompts)) == len(prompts), f"{task.name}: two templates give the same prompt"
    for p in prompts:
        assert_ascii(p, f"{task.name} prompt")


def check_task(name: str, split: str, independent, n: int = 200, seed: int = 0,
               length_of=None, perturb=perturb_answer, variants=None):
    """Run every generic check on `n` random instances of `name` in `split`.

    independent(instance) -> the expected answer string (canonical form), computed without the
    solver; length_of(instance) -> the instance's length n, to check the sampler honours it.
    """
    task = get_task(name)
    lo, hi = task.ranges[split]
    rng = random.Random(f"check/{name}/{split}/{seed}")
    variants = variants or task.variants
    for i in range(n):
        # cover both ends of the range, then random lengths
        length = lo if i == 0 else hi if i == 1 else rng.randint(lo, hi)
        instance = task.sample(rng, length)
        assert json.loads(json.dumps(instance)) == instance, "the instance is not plain JSON"
        if length_of is not None:
            assert length_of(instance) == length, (length, instance)
        trace = task.solve(instance)
        expected = independent(instance)
        assert trace.answer == expected, (instance, trace.answer, expected)
        assert task.reference_answer(instance) == expected
        assert task.canonical(trace.answer) == trace.answer, "answer is not in canonical form"
        if i < 3:
            check_templates(task, instance)
        prompt = task.templates[i % len(task.templates)].format(**task.fields(instance))
        check_trace_shape(trace)
        check_ablations(trace)
        for v in variants:
            if v in task.extra_variants:
                p, completion = task.extra_variants[v](instance, prompt)
                assert_ascii(p, f"{name} {v} prompt")
            else:
                completion = render(trace, v)
            assert_ascii(completion, f"{name} {v} completion")
            check_completion(task, completion, trace.answer, perturb)

    # end to end through the record contract
    for index in range(3):
        rec = synthesize(name, split, seed, index, variant=variants[index % len(variants)])
        assert tuple(rec) == RECORD_KEYS
        assert rec == json.loads(json.dumps(rec))
        assert rec["answer"] == independent(rec["instance"])
        assert rec["answer"] == task.reference_answer(rec["instance"])
        assert lo <= rec["length"] <= hi
        assert rec == synthesize(name, split, seed, index, variant=variants[index % len(variants)])


# --- addition's tagged notation, read without the package's code -----------------------------

CELL = re.compile(r"([\d_])([A-Za-z])")


def operand(text: str) -> dict:
    """One tagged prompt operand read independently ("7N_R5P1L" -> value 571, units "L"),
    asserting its form: each letter once and capital, every other letter from the units up to
    the blank cell `_`, which is the top."""
    assert re.fullmatch(r"(?:[\d_][A-Z])+", text), text
    pairs = CELL.findall(text)
    written = [t for _, t in pairs]
    cells = {t: d for d, t in pairs}
    assert len(cells) == len(written), f"a tag repeats in {text!r}"
    up = sorted(written)
    assert up == [letter(up[0], p) for p in range(len(up))], f"not every other letter: {text!r}"
    assert cells[up[-1]] == "_" and all(cells[t].isdigit() for t in up[:-1]), text
    assert cells[up[-2]] != "0", "the top digit is not 0"
    value = sum(int(cells[t]) * 10 ** p for p, t in enumerate(up[:-1]))
    return {"value": value, "units": up[0], "written": written, "cells": cells, "up": up}


def letter(units: str, p: int) -> str:
    """The letter of place p (-1: the sentinel below the units): every other letter from
    `units`, within A-Z."""
    code = ord(units) + 2 * p
    assert ord("A") <= code <= ord("Z"), f"place {p} above {units} falls outside A-Z"
    return chr(code)


def tape(completion: str) -> dict[str, str]:
    """The cells written on tape s (`s[K]=7` or styled `s[K] = 7`), the last write winning."""
    return dict(re.findall(r"s\[([A-Z])\] ?= ?([\d_])", completion))


def tape_value(completion: str, units: str) -> int:
    """The number on tape s: the sentinel `_` right below the units, digits from the units up."""
    cells = tape(completion)
    assert cells.pop(letter(units, -1)) == "_", "the sentinel below the units"
    return cells_value(cells, units)


def cells_value(cells: dict[str, str], units: str) -> int:
    """The number of digit cells {letter: digit}: from the units up, no gap, no leading 0."""
    up = sorted(cells)
    assert up == [letter(units, p) for p in range(len(up))], cells
    assert cells[up[-1]] != "0" or len(up) == 1
    return sum(int(cells[t]) * 10 ** p for p, t in enumerate(up))


__all__ = ["check_task", "check_trace_shape", "check_ablations", "check_completion",
           "check_templates", "perturb_answer", "assert_ascii", "CELL", "cells_value", "letter",
           "operand", "tape", "tape_value"]
