"""Trace synthesis speed: traces/s and characters/s per task on this machine.

    python benchmarks/synth.py [--split S] [--n 300] [--variant tail-styled] [--jobs 2]
                               [--tasks addition,compare]

Each trace is one full `tailjax.tasks.synthesize` call (sample, solve, render, prompt), the work
`python -m tailjax.data generate` does per record. With --jobs J the records of each task are
spread over J processes. The last column extrapolates to the paper's training set size
(100k S traces per task).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

from tailjax.tasks import TASKS, synthesize

PAPER_TRAIN_SIZE = 100_000


def _chars(args) -> int:
    task, split, variant, start, stop = args
    total = 0
    for i in range(start, stop):
        r = synthesize(task, split, 0, i, variant)
        total += len(r["prompt"]) + len(r["completion"])
    return total


def measure(task: str, split: str, n: int, variant: str, pool=None, jobs: int = 1):
    """(seconds, characters) to synthesize records 0..n-1 of (task, split)."""
    step = -(-n // jobs)
    parts = [(task, split, variant, s, min(s + step, n)) for s in range(0, n, step)]
    t0 = time.perf_counter()
    chars = sum(pool.map(_chars, parts)) if pool else sum(map(_chars, parts))
    return time.perf_counter() - t0, chars


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", default="S")
    p.add_argument("--n", type=int, default=300, help="traces per task")
    p.add_argument("--variant", default="tail-styled")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--tasks", help="comma-separated task names (default: all registered)")
    args = p.parse_args(argv)
    tasks = args.tasks.split(",") if args.tasks else list(TASKS)
    pool = ProcessPoolExecutor(args.jobs) if args.jobs > 1 else None
    if pool:  # start the workers (and their imports) before timing
        list(pool.map(_chars, [(tasks[0], args.split, args.variant, 0, 1)] * args.jobs))
    print(f"split {args.split}, variant {args.variant}, {args.n} traces per task, "
          f"{args.jobs} process(es)")
    print(f"{'task':<22}{'traces/s':>10}{'chars/s':>12}{'chars/trace':>13}"
          f"{'100k traces':>13}")
    total_s = 0.0
    for task in tasks:
        secs, chars = measure(task, args.split, args.n, args.variant, pool, args.jobs)
        full = secs * PAPER_TRAIN_SIZE / args.n
        total_s += full
        print(f"{task:<22}{args.n / secs:>10.0f}{chars / secs:>12.0f}{chars / args.n:>13.0f}"
              f"{full / 60:>11.1f} m")
    print(f"all {len(tasks)} tasks, {PAPER_TRAIN_SIZE} traces each: {total_s / 60:.1f} minutes")
    if pool:
        pool.shutdown()


if __name__ == "__main__":
    main()
