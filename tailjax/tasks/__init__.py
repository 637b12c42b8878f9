"""The TAIL task suite: the registry of tasks, the record contract, and deterministic scoring.

A task is a sampler (an instance of a given length), a solver (records the execution as a
`Trace`), prompt templates, and a canonical form for answers (`registry.Task`). Each task lives
in one module of its paradigm's package and registers itself on import; importing this package
imports them all, in the order below (the order of `TASKS`).

Below the tasks: `trace` (the recording and its variants), `registry` (Task, TASKS), `scoring`
(the last boxed answer, canonical forms), `synthesis` (records, DESIGN.md section 3).
"""

from __future__ import annotations

from tailjax.tasks.registry import (NOTATIONS, SPLITS, TASKS, Task, canonical_key, check_form,
                                    check_split, get_task, instance_key, register, sorted_pair)
from tailjax.tasks.scoring import answer_text, canonical_answer, last_boxed, score
from tailjax.tasks.synthesis import (RECORD_KEYS, make_record, sample_instance, synthesize,
                                     synthesize_traced, traced_record, with_rule)
from tailjax.tasks.trace import VARIANTS, Trace, boxed, render

# The tasks register themselves on import, in this order.
from tailjax.tasks import simulation  # noqa: F401
from tailjax.tasks import divide_and_conquer  # noqa: F401
from tailjax.tasks import recursion  # noqa: F401
from tailjax.tasks import iteration  # noqa: F401
from tailjax.tasks import greedy  # noqa: F401
from tailjax.tasks import enumeration  # noqa: F401
from tailjax.tasks import dynamic_programming  # noqa: F401
from tailjax.tasks import backtracking  # noqa: F401

__all__ = ["NOTATIONS", "SPLITS", "RECORD_KEYS", "TASKS", "Task", "Trace", "VARIANTS",
           "answer_text", "boxed", "canonical_answer", "canonical_key", "check_form",
           "check_split", "get_task", "instance_key", "last_boxed", "make_record", "register",
           "render", "sample_instance", "score", "sorted_pair", "synthesize", "synthesize_traced",
           "traced_record", "with_rule"]
