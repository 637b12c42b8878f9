"""JSONL records, deduplicated generation, fixed test sets, and train/test disjointness.

A record (DESIGN.md section 3) is one synthesized problem: task, split, length, instance, prompt,
completion, answer. Generation walks the stream `synthesize(task, split, seed, index)` for
index = 0, 1, 2, ... and keeps each instance the first time it appears, so the same arguments
always give the same records, byte for byte.

Test sets are the first TEST_SIZE distinct instances of the stream with seed TEST_SEED (half
the space where the whole instance space is smaller than TEST_SIZE: derangement's S, M and L
hold 14, 15 and 20; `test_size` gives every size). Generation with seed TEST_SEED gives the
test set itself and nothing beyond it. Any generation with another seed skips every instance
of the test sets of all three splits (with the default length ranges and, when given, the
override `lengths`), so a training set never shares an instance with a test set, not even up to
the task's symmetries: exclusion compares `canonical_key`s, which fold them (levenshtein's two
strings swapped, knapsack's items reordered; each task's docstring names its symmetries).
"""

from __future__ import annotations

import functools
import json
import os
import random
from typing import Iterable, Mapping

from tailjax.paths import read_jsonl
from tailjax.tasks import (SPLITS, Trace, canonical_key, check_form, check_split, get_task,
                           instance_key, sample_instance, synthesize, synthesize_traced)

TEST_SEED = 20250717
TEST_SIZE = 500
# How many draws beyond n may be spent skipping duplicates before the instance space is judged
# too small for n distinct instances.
_SLACK = 1000


def _unique_indices(task: str, split: str, n: int, seed: int, lengths=None,
                    exclude: frozenset | set = frozenset(), allow_fewer: bool = False,
                    integer: bool = False) -> list[int]:
    """Stream indices of the first n distinct instances whose canonical_key is not in `exclude`.

    When the instance space runs dry (no new instance within _SLACK + n further draws) this is an
    error, or with `allow_fewer` the indices found so far (a tiny space's test set is all of it).
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    seen: set[str] = set()
    kept: list[int] = []
    index = 0
    while len(kept) < n:
        if index - len(kept) > _SLACK + n:
            if allow_fewer:
                break
            raise ValueError(
                f"only {len(kept)} distinct {task} instances"
                f"{' outside the test sets' if exclude else ''} found for split {split} "
                f"(lengths {lengths or get_task(task).ranges[split]}) after {index} draws; "
                "ask for fewer records or a wider --lengths range")
        instance = sample_instance(task, split, seed, index, lengths, integer)
        key = instance_key(instance)
        if key not in seen and (not exclude or canonical_key(task, instance) not in exclude):
            seen.add(key)
            kept.append(index)
        index += 1
    return kept


@functools.lru_cache(maxsize=None)
def _test_indices(task: str, split: str, lengths, integer: bool = False) -> tuple[int, ...]:
    """Stream indices of the test set: the first TEST_SIZE distinct instances, or, when the
    whole instance space is smaller than that (derangement S has 28), its first half, so that
    training still has instances the test set does not hold."""
    found = _unique_indices(task, split, TEST_SIZE, TEST_SEED, lengths, allow_fewer=True,
                            integer=integer)
    return tuple(found if len(found) == TEST_SIZE else found[:(len(found) + 1) // 2])


@functools.lru_cache(maxsize=None)
def _test_keys(task: str, split: str, lengths, integer: bool = False) -> frozenset:
    return frozenset(canonical_key(task, sample_instance(task, split, TEST_SEED, i, lengths,
                                                         integer))
                     for i in _test_indices(task, split, lengths, integer))


def test_keys(task: str, split: str, lengths: tuple[int, int] | None = None,
              integer: bool = False) -> frozenset:
    """canonical_key of every instance in the test set of (task, split, lengths, integer)."""
    get_task(task)
    check_split(split)
    return _test_keys(task, split, tuple(lengths) if lengths is not None else None, integer)


def test_size(task: str, split: str, lengths: tuple[int, int] | None = None,
              integer: bool = False) -> int:
    """How many instances the test set of (task, split, lengths) holds: TEST_SIZE, or half the
    instance space when that is smaller."""
    get_task(task)
    return len(_test_indices(task, check_split(split), tuple(lengths) if lengths else None,
                             integer))


def excluded_keys(task: str, lengths: tuple[int, int] | None = None,
                  integer: bool = False) -> frozenset:
    """Every test instance a training set of `task` must avoid: the test sets of all splits,
    with the default ranges and with `lengths` when given, of the plain and (for a task that
    has the option) the integer-only sampler."""
    keys = frozenset()
    for ls in {None, tuple(lengths) if lengths is not None else None}:
        for split in SPLITS:
            for integers in {False, integer}:
                keys |= test_keys(task, split, ls, integers)
    return keys


def check_request(task: str, variant: str, template: int | None, notation: str = "plain",
                  integer: bool = False):
    t = check_form(task, notation, integer)
    if variant not in t.variants:
        raise ValueError(f"unknown variant {variant!r} for task {task!r}; choose one of "
                         f"{', '.join(t.variants)}")
    if template is not None and not 0 <= template < len(t.templates):
        raise ValueError(f"template {template} out of range; task {task!r} has templates "
                         f"0..{len(t.templates) - 1}")


def plan(task: str, mix: Mapping[str, float], n: int, seed: int,
         lengths: tuple[int, int] | None = None, integer: bool = False) -> list[tuple[str, int]]:
    """The (split, stream index) of each of n records, drawn from the splits by weight: distinct
    instances, none from a test set (up to the task's symmetries), several splits in a seeded
    shuffled order. seed == TEST_SEED gives the first records of the test sets instead, and no
    more than they hold. Cheap (samples instances, solves none); raises before any work is
    wasted."""
    get_task(task)
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    counts = split_counts(mix, n)
    if seed == TEST_SEED:
        out = [(split, i) for split, count in counts.items()
               for i in _test_records(task, split, count, lengths, integer)]
    else:
        exclude = excluded_keys(task, lengths, integer)
        out = [(split, i) for split, count in counts.items()
               for i in _unique_indices(task, split, count, seed, lengths, exclude,
                                        integer=integer)]
    if len(counts) > 1:
        random.Random(f"mix/{task}/{seed}").shuffle(out)
    return out


def _test_records(task: str, split: str, n: int, lengths, integer: bool = False) -> tuple[int, ...]:
    """Stream indices of the first n instances of a test set; n beyond its size is an error."""
    indices = _test_indices(task, split, tuple(lengths) if lengths else None, integer)
    if n > len(indices):
        raise ValueError(f"seed {TEST_SEED} gives the test sets, and the test set of {task} "
                         f"{split} holds {len(indices)} instances; ask for n <= {len(indices)}, "
                         "or draw training data with another seed")
    return indices[:n]


def iter_records(task: str, planned: list[tuple[str, int]], seed: int,
                 variant: str = "tail-styled", lengths=None, template=None,
                 notation: str = "plain", integer: bool = False):
    """The records of a plan, synthesized one at a time (a file of 100k never sits in memory)."""
    check_request(task, variant, template, notation, integer)
    for split, i in planned:
        yield synthesize(task, split, seed, i, variant, lengths, template, notation, integer)


def generate(task: str, split: str, n: int, seed: int, variant: str = "tail-styled",
             lengths: tuple[int, int] | None = None, template: int | None = None,
             notation: str = "plain", integer: bool = False) -> list[dict]:
    """n distinct records of one split; disjoint from every test set, or with seed == TEST_SEED
    the first n records of the test set."""
    check_request(task, variant, template, notation, integer)
    planned = plan(task, {check_split(split): 1.0}, n, seed, lengths, integer)
    return list(iter_records(task, planned, seed, variant, lengths, template, notation,
                             integer))


def split_counts(mix: Mapping[str, float], n: int) -> dict[str, int]:
    """n records shared among splits in proportion to `mix` (largest remainder; sums to n)."""
    for split, w in mix.items():
        check_split(split)
        if w < 0:
            raise ValueError(f"mix weight of {split} is negative ({w})")
    total = sum(mix.values())
    if total <= 0:
        raise ValueError("mix weights sum to zero; give e.g. S=0.8,M=0.1,L=0.1")
    exact = {s: n * w / total for s, w in mix.items()}
    counts = {s: int(v) for s, v in exact.items()}
    for s in sorted(exact, key=lambda s: (counts[s] - exact[s], SPLITS.index(s)))[
            :n - sum(counts.values())]:
        counts[s] += 1
    return {s: c for s, c in counts.items() if c > 0}


def generate_mix(task: str, mix: Mapping[str, float], n: int, seed: int,
                 variant: str = "tail-styled", lengths=None, template=None,
                 notation: str = "plain", integer: bool = False) -> list[dict]:
    """n records drawn from several splits by weight, in a seeded shuffled order."""
    check_request(task, variant, template, notation, integer)
    return list(iter_records(task, plan(task, mix, n, seed, lengths, integer), seed, variant,
                             lengths, template, notation, integer))


def test_set(task: str, split: str, n: int = TEST_SIZE, variant: str = "tail-styled",
             lengths: tuple[int, int] | None = None, template: int | None = None,
             notation: str = "plain", integer: bool = False) -> list[dict]:
    """The first n records of the fixed test set of (task, split); n <= TEST_SIZE. A task whose
    instance space is tiny has a smaller test set (see _test_indices): all of it is returned.
    `template` renders every prompt with one template (a model trained on one template is
    tested on it); the instances stay the same."""
    return [record for record, _ in traced_test_set(task, split, n, variant, lengths, template,
                                                    notation, integer)]


def traced_test_set(task: str, split: str, n: int = TEST_SIZE, variant: str = "tail-styled",
                    lengths: tuple[int, int] | None = None, template: int | None = None,
                    notation: str = "plain", integer: bool = False) -> list[tuple[dict, Trace]]:
    """`test_set`'s records, each with the solver's recording its completion renders
    (`tasks.synthesize_traced`): the reference traces a model's outputs are compared with."""
    if n > TEST_SIZE:
        raise ValueError(f"test sets hold {TEST_SIZE} instances; ask for n <= {TEST_SIZE}")
    check_request(task, variant, template, notation, integer)
    indices = _test_indices(task, check_split(split), tuple(lengths) if lengths else None,
                            integer)
    return [synthesize_traced(task, split, TEST_SEED, i, variant, lengths, template, notation,
                              integer) for i in indices[:n]]


def dumps(record: dict) -> str:
    """One JSONL line; ASCII with fixed key order, so files are byte-identical across runs."""
    return json.dumps(record, ensure_ascii=True)


def write_records(records: Iterable[dict], path: str) -> int:
    """Write JSONL atomically (a partial file never appears under `path`); returns the count."""
    tmp = f"{path}.tmp{os.getpid()}"
    n = 0
    try:
        with open(tmp, "w", encoding="ascii", newline="\n") as f:
            for r in records:
                f.write(dumps(r) + "\n")
                n += 1
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return n


def read_records(path: str, required: tuple[str, ...] = ("task", "instance")) -> list[dict]:
    """Records of a JSONL file; a malformed line, or one without a `required` key, is a
    ValueError naming the file and line. A missing file is the OSError `open` raises."""
    return read_jsonl(path, required, hint="; regenerate it with `python -m tailjax.data generate`")


def record_key(record: dict) -> tuple[str, str]:
    """What makes two records the same problem: the task and the instance up to the task's
    symmetries (canonical_key)."""
    return record["task"], canonical_key(record["task"], record["instance"])
