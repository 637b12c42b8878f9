"""The registry of tasks: what a task is (`Task`), the table of them (`TASKS`), and the checks of
a task's name, split and form (notation, integer option) that every caller shares.

Task modules build a `Task` and `register` it; `tailjax.tasks` imports them all, so importing
any part of the package fills `TASKS`. This module imports no task.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from tailjax.tasks.trace import VARIANTS, Trace

SPLITS = ("S", "M", "L")
NOTATIONS = ("plain", "tagged")


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
        (addition's "tagged": letters naming each digit's place,
        simulation.addition.PlaceTags).
    fold(instance) -> instance: one representative of the instances that are the same problem
        up to the task's symmetries (those that keep the answer: swapping the operands of a sum,
        reordering knapsack items); `canonical_key` keys test-set exclusion by it. Each task's
        docstring says which symmetries it folds; by default none.
    tapes: answers a completion leaves on a tape instead of boxing them: tape name -> reader,
        reader(completion) -> the answer text the tape holds, or None when the completion wrote
        no readable number there. A completion whose last box holds a tape's name is scored on
        its reading (scoring.answer_text; addition's "s", simulation.addition.read_sum_tape).
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
    tapes: Mapping[str, Callable[[str], str | None]] = field(default_factory=dict)
    answer_rule: str = ""

    @property
    def variants(self) -> tuple[str, ...]:
        return VARIANTS + tuple(self.extra_variants)

    def reference_answer(self, instance: dict) -> str:
        """The canonical answer of `instance`, computed by the task's solver (what a record of
        it stores as `answer`, in every notation and variant)."""
        return self.solve(instance).answer


TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add `task` to TASKS (once; its ranges must name every split)."""
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is registered twice")
    if set(task.ranges) != set(SPLITS):
        raise ValueError(f"task {task.name!r} must give length ranges for {SPLITS}")
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task `name`; ValueError naming the choices when there is none."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None


def check_split(split: str) -> str:
    """`split`, after checking it is one of SPLITS."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return split


def instance_key(instance: dict) -> str:
    """A canonical string of an instance, for deduplication and train/test disjointness."""
    return json.dumps(instance, sort_keys=True, separators=(",", ":"))


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
