"""The six foundation tasks: every split and variant on 200 random instances each, against an
independent computation of the answer (tests/task_checks.py holds the generic checks)."""

import bisect

import pytest

from task_checks import check_task
from tailjax.tasks import SPLITS


def binary_search_answer(inst):
    a = inst["numbers"]
    assert a == sorted(set(a))
    i = bisect.bisect_left(a, inst["target"])
    assert a[i] == inst["target"]
    return str(i)


@pytest.mark.parametrize("split", SPLITS)
def test_binary_search(split):
    check_task("binary_search", split, binary_search_answer,
               length_of=lambda inst: len(inst["numbers"]))
