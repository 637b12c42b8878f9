"""The TAIL task suite: a registry of tasks, the record contract, and deterministic scoring.

A task is a sampler (an instance of a given length), a solver (records the execution as a
`Trace`), prompt templates, and a canonical form for answers. One module per algorithm paradigm
registers its tasks with `register`; importing this package imports them all.

Records (DESIGN.md section 3) are dicts with the keys of `RECORD_KEYS`.

Answers are ASCII, one rule for every task: a boxed answer with any other character (full-width
or Arabic-Indic digits, say) is not an answer, so `score` counts it wrong (`canonical_answer`).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from tailjax.tasks.trace import VARIANTS, Trace, boxed, render

SPLITS = ("S", "M", "L")
RECORD_KEYS = ("task", "split", "length", "instance", "prompt", "completion", "answer")


@dataclass(frozen=True)
class Task:
    """One task of the suite.

    sample(rng, n) -> instance: a JSON-able dict of the inputs, of length n, enough to re-solve
        the problem independently.
    solve(instance) -> Trace: the execution recorded state by state, finished with the answer.
    templates: prompt templates, formatted with `fields(instance)` (str.format).
    canonical(answer_text) -> str: the canonical form (ASCII) used to compare answers; raises
        ValueError when the text is not an answer of this task. It is only given ASCII text
        (`canonical_answer`).
    extra_variants: task-specific baselines (e.g. addition's index-hint and reversed), each
        (instance, prompt[, notation]) -> (prompt, completion); the completion ends with the
        boxed answer.
    sample_integer(rng, n) -> instance: the sampler of the `integer` option (integer operands
        only), for tasks that have one.
    notations: other notations than "plain", each (instance, rng) -> a notation object that
        `solve(instance, notation)`, `fields(instance, notation)` and the extra variants take
        (addition's "tagged": random letters naming each digit's place, simulation.PlaceTags).
    fold(instance) -> instance: one representative of the instances that are the same problem
        up to the task's symmetries (those that keep the answer: swapping the operands of a sum,
        reordering knapsack items); `canonical_key` keys test-set exclusion by it. Each task's
        docstring says which symmetries it folds; by default none.
    answer_rule: what the scorer requires of the answer beyond one number (a list's order and
        separator, the pair notation, "none"), formatted like the templates and appended to
        every prompt (`with_rule`), so that no template leaves it unsaid.
    """

    name: str
    paradigm: str
    ranges: Mapping[str, tuple[int, int]]
    sample: Callable[[random.Random, int], dict]
    solve: Callable[[dict], Trace]
    templates: Sequence[str]
    fields: Callable[[dict], dict]
    canonical: Callable[[str], str] = str.strip
    extra_variants: Mapping[str, Callable[..., tuple[str, str]]] = field(default_factory=dict)
    sample_integer: Callable[[random.Random, int], dict] | None = None
    notations: Mapping[str, Callable[[dict, random.Random], object]] = field(
        default_factory=dict)
    fold: Callable[[dict], dict] = lambda instance: instance
    answer_rule: str = ""

    @property
    def variants(self) -> tuple[str, ...]:
        return VARIANTS + tuple(self.extra_variants)


TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is registered twice")
    if set(task.ranges) != set(SPLITS):
        raise ValueError(f"task {task.name!r} must give length ranges for {SPLITS}")
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return split


def instance_key(instance: dict) -> str:
    """A canonical string of an instance, for deduplication and train/test disjointness."""
    return json.dumps(instance, sort_keys=True, separators=(",", ":"))


NOTATIONS = ("plain", "tagged")


def check_form(task: Task | str, notation: str = "plain", integer: bool = False) -> Task:
    """The task, after checking it has `notation` and (when asked) the integer option."""
    task = get_task(task) if isinstance(task, str) else task
    if notation != "plain" and notation not in task.notations:
        have = ", ".join(["plain", *task.notations])
        raise ValueError(f"task {task.name!r} has no {notation!r} notation; choose {have}")
    if integer and task.sample_integer is None:
        raise ValueError(f"task {task.name!r} has no integer-only option; set integer false")
    return task


def canonical_key(task: Task | str, instance: dict) -> str:
    """instance_key of the task's representative of `instance` (Task.fold): instances that are
    the same problem up to a symmetry of the task share it. Test sets are excluded by it."""
    task = get_task(task) if isinstance(task, str) else task
    try:
        folded = task.fold(instance)
    except (KeyError, TypeError, ValueError):  # not this task's fields: it equals no test instance
        folded = instance
    return instance_key(folded)


def sorted_pair(a: str, b: str):
    """A fold for tasks symmetric in two fields: the instance with those fields in sorted order."""
    def fold(instance: dict) -> dict:
        low, high = sorted([instance[a], instance[b]])
        return {**instance, a: low, b: high}
    return fold


def with_rule(task: Task, template: str, instance: dict, *notation) -> str:
    """The prompt of `template` for `instance` (in `notation`, when not plain), followed by the
    task's answer rule: after a space when the template ends a sentence, else on a new line."""
    fields = task.fields(instance, *notation)
    prompt = template.format(**fields)
    if not task.answer_rule:
        return prompt
    sep = " " if prompt.rstrip()[-1:] in ".?!" else "\n"
    return prompt + sep + task.answer_rule.format(**fields)


def make_record(task: Task | str, split: str, length: int, rng: random.Random,
                variant: str = "tail-styled", template: int | None = None,
                notation: str = "plain", integer: bool = False) -> dict:
    """One record of `task` with an instance of `length`, drawn from `rng`.

    `template` picks a prompt template by index; None draws one from `rng`. `notation` "plain"
    writes numbers as they are; another (addition's "tagged") draws its parameters from `rng`
    after the template, so plain records are unchanged by its existence. `integer` samples
    integer-only instances. The record's `answer` is the canonical answer in every notation.
    """
    task = check_form(task, notation, integer)
    if variant not in task.variants:
        raise ValueError(
            f"unknown variant {variant!r} for task {task.name!r}; choose one of "
            f"{', '.join(task.variants)}"
        )
    if length <= 0:
        raise ValueError(f"length must be positive, got {length}")
    instance = (task.sample_integer if integer else task.sample)(rng, length)
    t = template if template is not None else rng.randrange(len(task.templates))
    if notation == "plain":
        args = (instance,)
    else:
        args = (instance, task.notations[notation](instance, rng))
    prompt = with_rule(task, task.templates[t], *args)
    trace = task.solve(*args)
    if variant in task.extra_variants:
        prompt, completion = task.extra_variants[variant](*args[:1], prompt, *args[1:])
    else:
        completion = render(trace, variant)
    answer = trace.answer if notation == "plain" else task.canonical(trace.answer)
    return {"task": task.name, "split": split, "length": length, "instance": instance,
            "prompt": prompt, "completion": completion, "answer": answer}


def synthesize(task: str, split: str, seed: int, index: int, variant: str = "tail-styled",
               lengths: tuple[int, int] | None = None, template: int | None = None,
               notation: str = "plain", integer: bool = False) -> dict:
    """Record number `index` of the stream (task, split, seed): a pure function of its arguments.

    The length is drawn uniformly from the split's range, or from `lengths` when given (the CPU
    demo trains on reduced ranges).
    """
    t, length, rng = _stream(task, split, seed, index, lengths)
    return make_record(t, split, length, rng, variant, template, notation, integer)


def sample_instance(task: str, split: str, seed: int, index: int,
                    lengths: tuple[int, int] | None = None, integer: bool = False) -> dict:
    """The instance of `synthesize(task, split, seed, index, ..., lengths, integer=integer)`,
    without solving it (cheap: test-set exclusion and deduplication need only the instances)."""
    t, length, rng = _stream(task, split, seed, index, lengths)
    return (check_form(t, integer=integer).sample_integer if integer else t.sample)(rng, length)


def _stream(task, split, seed, index, lengths):
    """The task, the drawn length and the rng positioned where make_record samples from it."""
    t = get_task(task)
    lo, hi = lengths if lengths is not None else t.ranges[check_split(split)]
    if not 0 < lo <= hi:
        raise ValueError(f"length range {lo},{hi} is empty or not positive; give LO,HI with "
                         "0 < LO <= HI")
    rng = random.Random(f"{task}/{split}/{seed}/{index}")
    return t, rng.randint(lo, hi), rng


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


def score(task: Task | str, completion: str, answer: str) -> bool:
    """Whether the last boxed answer of `completion` equals `answer` in canonical form."""
    got = last_boxed(completion)
    if got is None:
        return False
    try:
        return canonical_answer(task, got) == canonical_answer(task, answer)
    except ValueError:
        return False


__all__ = ["NOTATIONS", "SPLITS", "RECORD_KEYS", "TASKS", "Task", "Trace", "VARIANTS", "boxed",
           "canonical_answer", "canonical_key", "check_form", "check_split",
           "get_task", "instance_key", "last_boxed", "make_record", "register", "render",
           "sample_instance", "score", "synthesize"]

# The task modules register themselves on import; keep these imports last.
# (Task modules are added here as they land, e.g. `from tailjax.tasks import simulation`.)
from tailjax.tasks import simulation  # noqa: E402,F401
from tailjax.tasks import divide_and_conquer  # noqa: E402,F401
from tailjax.tasks import recursion  # noqa: E402,F401
from tailjax.tasks import iteration  # noqa: E402,F401
from tailjax.tasks import greedy  # noqa: E402,F401
from tailjax.tasks import enumeration  # noqa: E402,F401
from tailjax.tasks import dynamic_programming  # noqa: E402,F401
from tailjax.tasks import backtracking  # noqa: E402,F401
