"""Greedy task: machine_schedule.

Instance: n tasks, each (benefit p 1..9, deadline d), and 2 <= x <= min(4, n-1) identical
machines; deadlines run to ceil(n/x) - 1, so not every task fits and choices matter. Every task
takes one unit of time on one machine; a machine runs one task per unit; time units are
1, 2, ...; a task earns its benefit only if it runs in a unit <= its deadline, otherwise it
is not run. Answer: the maximum total benefit, an integer.
Greedy (optimal, because the sets of tasks that can all meet their deadlines form a matroid:
a set is feasible iff for every t at most x*t of its tasks have deadline <= t): take the
tasks in decreasing order of benefit (ties by task number) and place each in the latest unit
<= its deadline that still has a free machine, skipping it when there is none. The order
comes from a counting sort on the benefits (1..9), one state per task filed into its bucket;
placing a task checks one unit per state, from its deadline downwards.
Symmetry folded: the order of the tasks (the best total benefit of a set of tasks).
"""

from __future__ import annotations

import random

from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_integer
from tailjax.tasks.trace import Trace


MAX_BENEFIT = 9


def sample_schedule(rng: random.Random, n: int) -> dict:
    if n < 3:
        raise ValueError(f"machine_schedule needs at least 3 tasks (2 or more machines, fewer "
                         f"than the tasks), got length {n}; give lengths with LO >= 3")
    machines = rng.randint(2, min(4, n - 1))
    horizon = max(1, -(-n // machines) - 1)  # fewer slots than tasks, so choices matter
    tasks = [[rng.randint(1, MAX_BENEFIT), rng.randint(1, horizon)] for _ in range(n)]
    return {"n": n, "machines": machines, "tasks": tasks}


def solve_schedule(instance: dict):
    x, tasks = instance["machines"], instance["tasks"]
    tr = Trace()
    tr.note(f"Take the tasks from the highest benefit down and put each in the latest free unit "
            f"before its deadline; each unit has {x} machines.")
    buckets: dict[int, list[int]] = {p: [] for p in range(1, MAX_BENEFIT + 1)}
    for i, (p, _) in enumerate(tasks):
        buckets[p].append(i)
        tr.state(f"file task {i}", fetch={f"p[{i}]": p},
                 compute=f"task {i} goes to bucket {p}",
                 write={f"bucket[{p}]": " ".join(f"t{j}" for j in buckets[p])}, loop="file")
    used: dict[int, int] = {}
    total = 0
    for p in range(MAX_BENEFIT, 0, -1):
        listed = " ".join(f"t{j}" for j in buckets[p]) or "empty"
        tr.state(f"open bucket {p}", fetch={f"bucket[{p}]": listed},
                 compute="take its tasks in order" if buckets[p] else "nothing to place")
        for i in buckets[p]:
            d = tasks[i][1]
            tr.state(f"place task {i}", fetch={f"p[{i}]": p, f"d[{i}]": d},
                     compute=f"look for a free unit from {d} down")
            placed = False
            for t in range(d, 0, -1):
                u = used.get(t, 0)
                if u < x:
                    total += p
                    used[t] = u + 1
                    tr.state(f"check unit {t} for task {i}",
                             fetch={f"used[{t}]": u, "x": x, "total": total - p},
                             compute=f"{u} < {x}, free, {total - p} + {p} = {total}",
                             write={f"used[{t}]": u + 1, "total": total}, loop="check")
                    placed = True
                    break
                tr.state(f"check unit {t} for task {i}", fetch={f"used[{t}]": u, "x": x},
                         compute=f"{u} = {x}, full", loop="check")
            if not placed:
                tr.state(f"skip task {i}", fetch={"total": total},
                         compute=f"no free unit up to {d}, task {i} is not run")
        if p in (MAX_BENEFIT, 5):
            tr.note(f"After the tasks of benefit {p} and more, the total benefit is {total}.")
    tr.state("report total", fetch={"total": total}, compute="every task is placed or skipped")
    tr.note(f"The maximum total benefit is {total}.")
    return tr.finish(total)


SCHEDULE_TEMPLATES = (
    "There are {n} tasks and {x} machines. Each task takes one time unit on one machine and "
    "earns its benefit only if it finishes by its deadline. Tasks (benefit, deadline): "
    "{tasks}. What is the maximum total benefit?",
    "Schedule {n} unit-time tasks on {x} identical machines to maximize total benefit. Task i "
    "is given as (benefit, deadline): {tasks}. Report the maximum total benefit.",
    "Tasks with (benefit, deadline): {tasks}. Machines: {x}. Each machine does one task per "
    "time unit, units are 1, 2, .... Find the largest total benefit of tasks done on time.",
    "Maximize the total benefit of the tasks {tasks} (benefit, deadline) completed on time, "
    "using {x} parallel machines and one time unit per task.",
    "Given {x} machines and {n} jobs, each needing one unit of time, with profits and "
    "deadlines {tasks} as (profit, deadline), compute the maximum total profit.",
    "Job sequencing with deadlines on {x} machines: jobs (profit, deadline) = {tasks}. What "
    "is the best achievable profit?",
    "Each of these {n} tasks, written (benefit, deadline), takes one unit of time: {tasks}. "
    "With {x} machines working in parallel, what total benefit can be earned at most?",
    "Compute the optimal value of scheduling unit tasks {tasks} (benefit, deadline) on {x} "
    "machines so that only tasks meeting their deadlines count.",
    "We have {x} machines. Tasks (benefit, deadline): {tasks}. A task scheduled in time unit t "
    "counts if t <= deadline. Find the maximum sum of benefits.",
    "Choose which of the tasks {tasks} (benefit, deadline) to run on {x} machines, one unit "
    "each, to maximize the benefit of tasks finished in time. Give the maximum.",
    "With {x} machines, what is the maximum total benefit for the unit tasks {tasks}, each "
    "listed as (benefit, deadline)?",
    "A print shop has {x} printers. Each of {n} orders takes one hour of one printer and pays "
    "only if done by its deadline hour. Orders (payment, deadline hour): {tasks}. What is the "
    "most the shop can earn?",
    "A repair garage has {x} mechanics. Each of {n} cars takes one day and pays a bonus if "
    "fixed by its due day. Cars (bonus, due day): {tasks}. What is the largest total bonus?",
    "A cloud provider runs {x} servers. Jobs each need one hour of one server and pay only if "
    "finished by their deadline hour. Jobs (pay, deadline): {tasks}. Maximize the revenue.",
    "A freelancer team of {x} people receives {n} one-day gigs, each with a fee and a "
    "deadline day: {tasks} as (fee, deadline). What is the maximum total fee they can earn?",
    "A hospital has {x} operating rooms. {n} surgeries each take one slot and have a priority "
    "score and a latest slot: {tasks} as (score, latest slot). What is the maximum total score "
    "of surgeries performed in time?",
    "A bakery has {x} ovens. Each of {n} cake orders bakes in one hour and earns its price only "
    "if ready by its deadline hour. Orders (price, deadline): {tasks}. What is the best total "
    "income?",
    "A translation agency has {x} translators. Each document takes one day; documents (fee, "
    "deadline day) are {tasks}. Which total fee is the largest they can collect?",
    "A laundry has {x} washing machines and {n} loads, each one cycle long, with (tip, "
    "deadline cycle) {tasks}. What is the maximum total tip?",
    "A film studio has {x} editing suites. Each of {n} trailers needs one day of editing and "
    "earns a payment if delivered by its deadline: {tasks} as (payment, deadline). Find the "
    "maximum total payment.",
    "A tutoring center has {x} tutors. Each of {n} students needs one session and pays only if "
    "seen by their deadline session: {tasks} as (payment, deadline). What is the maximum "
    "income?",
    "A shipyard has {x} docks. Each of {n} ships needs one day of loading and pays a premium "
    "if loaded by its deadline day: {tasks} as (premium, deadline). Maximize the total "
    "premium.",
)


def schedule_fields(instance: dict) -> dict:
    tasks = ", ".join(f"({p}, {d})" for p, d in instance["tasks"])
    return {"n": instance["n"], "x": instance["machines"], "tasks": tasks}


register(Task(
    name="machine_schedule",
    paradigm="greedy",
    ranges={"S": (5, 10), "M": (11, 20), "L": (21, 50)},
    sample=sample_schedule,
    solve=solve_schedule,
    templates=SCHEDULE_TEMPLATES,
    fields=schedule_fields,
    canonical=canonical_integer,
    fold=lambda inst: {**inst, "tasks": sorted(inst["tasks"])},
))
