"""The twelve non-simulation tasks: every split and variant on 200 random instances each, against
an independent computation of the answer that shares no code with the solver (brute force,
itertools, a formula, another algorithm). tests/task_checks.py holds the generic checks."""

import heapq
import itertools
import math
from functools import lru_cache

import pytest

from task_checks import check_task
from tailjax.tasks import SPLITS, TASKS, get_task, render, score, synthesize


# --- recursion -------------------------------------------------------------------------------


def any_substring_answer(inst):
    s = inst["s"]
    subs = [s[i:j] for i, j in itertools.combinations(range(len(s) + 1), 2)]
    assert len(subs) == len(s) * (len(s) + 1) // 2
    return ",".join(subs)


def derangement_answer(inst):
    """Inclusion-exclusion, checked against brute force over permutations for small n."""
    n = inst["n"]
    d = sum((-1) ** i * (math.factorial(n) // math.factorial(i)) for i in range(n + 1))
    if n <= 7:
        brute = sum(all(p[i] != i for i in range(n)) for p in itertools.permutations(range(n)))
        assert brute == d
    return str(d)


# --- iteration -------------------------------------------------------------------------------


def population_answer(inst):
    """Simulate cohorts: a pair born at unit b breeds at unit t when it has lived x full units."""
    n, x, y, z = inst["n"], inst["x"], inst["y"], inst["z"]
    cohorts = [(0, y)]  # (birth unit, pairs)
    for t in range(1, n + 1):
        mature = sum(pairs for born, pairs in cohorts if t - 1 - born >= x)
        cohorts.append((t, z * mature))
    return str(sum(pairs for _, pairs in cohorts))


# --- greedy ----------------------------------------------------------------------------------


def dijkstra_answer(inst):
    """Floyd-Warshall over the undirected graph."""
    n = inst["n"]
    inf = float("inf")
    d = [[0 if i == j else inf for j in range(n)] for i in range(n)]
    for u, v, w in inst["edges"]:
        assert u != v and w > 0
        d[u][v] = d[v][u] = min(d[u][v], w)
    for k in range(n):
        for i in range(n):
            for j in range(n):
                if d[i][k] + d[k][j] < d[i][j]:
                    d[i][j] = d[i][k] + d[k][j]
    row = d[inst["source"]]
    assert all(v < inf for v in row), "the sampled graph must be connected"
    return ",".join(str(int(v)) for v in row)


def _feasible(tasks, machines) -> bool:
    """Unit tasks fit before their deadlines iff no deadline t has more than machines*t tasks."""
    deadlines = sorted(d for _, d in tasks)
    return all(sum(1 for d in deadlines if d <= t) <= machines * t for t in set(deadlines))


def schedule_answer(inst):
    """Backward in time: at each unit take the `machines` best tasks still available (a heap);
    for n <= 10 also brute force over every subset of tasks."""
    tasks, x = inst["tasks"], inst["machines"]
    assert 1 <= x < len(tasks)
    by_deadline = sorted(tasks, key=lambda t: -t[1])
    heap, k, total = [], 0, 0
    for t in range(max(d for _, d in tasks), 0, -1):
        while k < len(by_deadline) and by_deadline[k][1] >= t:
            heapq.heappush(heap, -by_deadline[k][0])
            k += 1
        for _ in range(min(x, len(heap))):
            total -= heapq.heappop(heap)
    if len(tasks) <= 10:
        best = max(sum(p for p, _ in sub)
                   for r in range(len(tasks) + 1)
                   for sub in itertools.combinations(tasks, r) if _feasible(sub, x))
        assert best == total
    return str(total)


# --- enumeration -----------------------------------------------------------------------------


def count_letters_answer(inst):
    return str(" ".join(inst["words"]).count(inst["letter"]))


def diophantine_answer(inst):
    a, b, n = inst["a"], inst["b"], inst["n"]
    sols = [(x1, x2) for x1, x2 in itertools.product(range(n // a + 1), range(n // b + 1))
            if a * x1 + b * x2 == n]
    return ",".join(f"({x1},{x2})" for x1, x2 in sols) or "none"


def _sieve(limit):
    is_prime = [False, False] + [True] * (limit - 1)
    for p in range(2, limit + 1):
        if is_prime[p]:
            for q in range(p * p, limit + 1, p):
                is_prime[q] = False
    return is_prime


PRIME = _sieve(400)


def prime_answer(inst):
    lo, hi = inst["lo"], inst["hi"]
    assert 2 <= lo <= hi
    return ",".join(str(k) for k in range(lo, hi + 1) if PRIME[k]) or "none"


# --- dynamic programming ---------------------------------------------------------------------


def knapsack_answer(inst):
    """Bottom-up DP over capacities, checked against brute force over every subset."""
    w, v, cap = inst["weights"], inst["values"], inst["capacity"]
    best = [0] * (cap + 1)
    for wt, val in zip(w, v):
        for c in range(cap, wt - 1, -1):
            best[c] = max(best[c], best[c - wt] + val)
    brute = max(sum(v[i] for i in sub) for r in range(len(w) + 1)
                for sub in itertools.combinations(range(len(w)), r)
                if sum(w[i] for i in sub) <= cap)
    assert brute == best[cap]
    return str(best[cap])


def lcs_answer(inst):
    """Top-down recursion (the solver fills the table bottom-up); brute force for short a."""
    a, b = inst["a"], inst["b"]

    @lru_cache(maxsize=None)
    def lcs(i, j):
        if i == len(a) or j == len(b):
            return 0
        if a[i] == b[j]:
            return 1 + lcs(i + 1, j + 1)
        return max(lcs(i + 1, j), lcs(i, j + 1))

    if len(a) <= 6:
        def is_subseq(t, s):
            it = iter(s)
            return all(ch in it for ch in t)
        brute = max(r for r in range(len(a) + 1)
                    for sub in itertools.combinations(a, r) if is_subseq(sub, b))
        assert brute == lcs(0, 0)
    return str(lcs(0, 0))


def levenshtein_answer(inst):
    """Top-down recursion on suffixes (the solver fills prefixes bottom-up)."""
    a, b = inst["a"], inst["b"]

    @lru_cache(maxsize=None)
    def dist(i, j):
        if i == len(a):
            return len(b) - j
        if j == len(b):
            return len(a) - i
        return min(dist(i + 1, j) + 1, dist(i, j + 1) + 1,
                   dist(i + 1, j + 1) + (a[i] != b[j]))

    return str(dist(0, 0))


# --- backtracking ----------------------------------------------------------------------------


def palindrome_answer(inst):
    """Every set of cut positions, kept when all pieces are palindromes."""
    s = inst["s"]
    count = 0
    for cuts in itertools.product((False, True), repeat=len(s) - 1):
        bounds = [0] + [i + 1 for i, cut in enumerate(cuts) if cut] + [len(s)]
        pieces = [s[i:j] for i, j in zip(bounds, bounds[1:])]
        count += all(p == p[::-1] for p in pieces)
    return str(count)


CASES = {
    "any_substring": (any_substring_answer, lambda inst: len(inst["s"])),
    "derangement": (derangement_answer, lambda inst: inst["n"]),
    "population_growth": (population_answer, lambda inst: inst["n"]),
    "dijkstra": (dijkstra_answer, lambda inst: inst["n"]),
    "machine_schedule": (schedule_answer, lambda inst: len(inst["tasks"])),
    "count_letters": (count_letters_answer, lambda inst: len(inst["words"])),
    "diophantine": (diophantine_answer, lambda inst: inst["n"]),
    "prime_search": (prime_answer, lambda inst: inst["hi"]),
    "knapsack": (knapsack_answer, lambda inst: len(inst["weights"])),
    "lcs": (lcs_answer, lambda inst: len(inst["a"])),
    "levenshtein": (levenshtein_answer, lambda inst: len(inst["a"])),
    "palindrome_partition": (palindrome_answer, lambda inst: len(inst["s"])),
}


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("task", CASES)
def test_task(task, split):
    independent, length_of = CASES[task]
    check_task(task, split, independent, length_of=length_of)


def test_paradigms_and_ranges():
    """What `python -m tailjax.data list` shows: the paper's paradigms and S/M/L ranges."""
    expected = {
        "any_substring": ("recursion", (3, 5), (6, 9), (10, 14)),
        "derangement": ("recursion", (3, 30), (31, 60), (61, 100)),
        "population_growth": ("iteration", (1, 10), (11, 25), (26, 50)),
        "dijkstra": ("greedy", (3, 5), (6, 10), (11, 20)),
        "machine_schedule": ("greedy", (5, 10), (11, 20), (21, 50)),
        "count_letters": ("enumeration", (2, 6), (7, 10), (11, 20)),
        "diophantine": ("enumeration", (10, 50), (51, 100), (101, 200)),
        "prime_search": ("enumeration", (5, 100), (101, 200), (201, 300)),
        "knapsack": ("dynamic programming", (2, 3), (4, 5), (6, 8)),
        "lcs": ("dynamic programming", (2, 6), (7, 9), (10, 12)),
        "levenshtein": ("dynamic programming", (2, 4), (5, 7), (8, 9)),
        "palindrome_partition": ("backtracking", (2, 4), (5, 6), (7, 8)),
    }
    for name, (paradigm, *ranges) in expected.items():
        task = get_task(name)
        assert task.paradigm == paradigm
        assert [tuple(task.ranges[s]) for s in SPLITS] == ranges


def test_list_answers_score_as_sets_but_not_partially():
    """Set-like answers accept any order, but a missing, extra or repeated element is wrong."""
    assert score("prime_search", "\\boxed{11, 7, 13}", "7,11,13")
    assert not score("prime_search", "\\boxed{7,11}", "7,11,13")
    assert not score("prime_search", "\\boxed{7,11,13,13}", "7,11,13")
    assert score("prime_search", "\\boxed{none}", "none")
    assert score("diophantine", "\\boxed{(4,0), (0,6)}", "(0,6),(4,0)")
    assert not score("diophantine", "\\boxed{(0,6),(0,6),(4,0)}", "(0,6),(4,0)")
    assert not score("diophantine", "\\boxed{(0,6)}", "(0,6),(4,0)")
    # Substrings (by start, then end) and distances (per vertex) are ordered lists.
    assert score("any_substring", "\\boxed{a, ab, b}", "a,ab,b")
    assert not score("any_substring", "\\boxed{b,ab,a}", "a,ab,b")
    assert not score("any_substring", "\\boxed{a,ab}", "a,ab,b")
    assert not score("dijkstra", "\\boxed{3,0}", "0,3")
    assert score("derangement", "\\boxed{1,334,961}", "1334961")


def test_knapsack_trace_returns_back_with_fetched_sub_results():
    """The paper's top-down form: each combine step restates the sub-results it fetched."""
    trace = get_task("knapsack").solve({"weights": [2, 3], "values": [3, 4], "capacity": 3})
    text = render(trace, "tail")
    assert "call f(0,3)" in text and "call f(1,3)" in text
    assert "return back to f(0,3) from take" in text
    combine = [s for s in trace.states if s.name == "return back to f(0,3) from take"][0]
    assert dict(combine.fetch) == {"f(1,3)": "4", "f(1,1)": "0", "v[0]": "3"}
    assert trace.answer == "4"


def test_palindrome_trace_writes_every_choice_and_undo():
    trace = get_task("palindrome_partition").solve({"s": "aba"})
    names = [s.name for s in trace.states]
    choices = [s for s in trace.states if "choose it" in s.compute]
    undos = [n for n in names if n.startswith("undo ")]
    assert len(choices) == len(undos) == 4  # a, b, a on the first path, then aba
    assert sum(n.startswith("reach the end") for n in names) == 2 == int(trace.answer)


@pytest.mark.parametrize("task,length,shortest", [("machine_schedule", 2, 3),
                                                  ("prime_search", 1, 2)])
def test_too_short_lengths_are_clear_errors(task, length, shortest):
    """Reduced --lengths (the CPU demo uses them) below what the task allows fail clearly."""
    with pytest.raises(ValueError, match=f"LO >= {shortest}"):
        synthesize(task, "S", 0, 0, lengths=(length, length))
    assert synthesize(task, "S", 0, 0, lengths=(shortest, shortest))["length"] == shortest


@pytest.mark.parametrize("task", CASES)
def test_every_task_handles_the_shortest_demo_lengths(task):
    """Every other task solves instances of length 1 and 2 (reduced demo ranges) correctly."""
    independent = CASES[task][0]
    lo = {"machine_schedule": 3, "prime_search": 2}.get(task, 1)
    for index in range(20):
        rec = synthesize(task, "S", 0, index, variant="tail", lengths=(lo, lo + 1))
        assert rec["answer"] == independent(rec["instance"])
        assert score(task, rec["completion"], rec["answer"])


# What each scorer requires beyond "one number", in words every prompt must contain.
ANSWER_RULES = {
    "dijkstra": ["u-v:weight", "in vertex order", "comma-separated"],
    "any_substring": ["by start position and then by end position", "comma-separated"],
    "binary_search": ["0-based index"],
    "prime_search": ["comma-separated", "or none"],
    "diophantine": ["pair in parentheses, the unknown multiplied by", "or none"],
    "bubble_sort": ["ascending order, comma-separated"],
}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_template_states_what_the_scorer_requires(task):
    t = get_task(task)
    answers = [synthesize(task, s, 2, i)["answer"] for s in SPLITS for i in range(5)]
    # A task whose answers are lists (or "none") must say how to write them, in every prompt.
    if any("," in a or a == "none" for a in answers):
        assert task in ANSWER_RULES
    for k in range(len(t.templates)):
        prompt = synthesize(task, "S", 2, k, template=k)["prompt"]
        for words in ANSWER_RULES.get(task, []):
            assert words in prompt, (k, prompt)
