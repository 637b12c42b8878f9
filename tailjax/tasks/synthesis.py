"""Records of a task (DESIGN.md section 3): one instance sampled, solved, and written as a prompt
and a completion in one variant. `synthesize` is a pure function of its arguments, so the same
arguments give byte-identical records.
"""

from __future__ import annotations

import random

from tailjax.tasks.registry import Task, check_form, check_split, get_task
from tailjax.tasks.trace import Trace, render

RECORD_KEYS = ("task", "split", "length", "instance", "prompt", "completion", "answer")


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
    """One record of `task` with an instance of `length`, drawn from `rng` (`traced_record`'s
    record)."""
    return traced_record(task, split, length, rng, variant, template, notation, integer)[0]


def traced_record(task: Task | str, split: str, length: int, rng: random.Random,
                  variant: str = "tail-styled", template: int | None = None,
                  notation: str = "plain", integer: bool = False) -> tuple[dict, Trace]:
    """(record, Trace): one record of `task` with an instance of `length`, drawn from `rng`,
    and the solver's recording its completion renders (for the extra variants, the recording
    of the same instance; their completions are not rendered from it).

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
    return ({"task": task.name, "split": split, "length": length, "instance": instance,
             "prompt": prompt, "completion": completion, "answer": answer}, trace)


def synthesize(task: str, split: str, seed: int, index: int, variant: str = "tail-styled",
               lengths: tuple[int, int] | None = None, template: int | None = None,
               notation: str = "plain", integer: bool = False) -> dict:
    """Record number `index` of the stream (task, split, seed): a pure function of its arguments.

    The length is drawn uniformly from the split's range, or from `lengths` when given (the CPU
    demo trains on reduced ranges).
    """
    return synthesize_traced(task, split, seed, index, variant, lengths, template, notation,
                             integer)[0]


def synthesize_traced(task: str, split: str, seed: int, index: int,
                      variant: str = "tail-styled", lengths: tuple[int, int] | None = None,
                      template: int | None = None, notation: str = "plain",
                      integer: bool = False) -> tuple[dict, Trace]:
    """(record, Trace) of `synthesize` with the same arguments (`traced_record`)."""
    t, length, rng = _stream(task, split, seed, index, lengths)
    return traced_record(t, split, length, rng, variant, template, notation, integer)


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
