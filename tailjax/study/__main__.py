"""`python -m tailjax.study --config FILE`: a grid of training runs and their comparison report.

    python -m tailjax.study --config configs/study/addition-cpu.yaml [--set KEY=VALUE ...]
        [--cells NAMES] [--dry-run] [--no-report]
    python -m tailjax.study report DIR

The first trains and evaluates every cell of the config's study.grid that is not done (each
resumes from its latest checkpoint), one after another, then writes the report into
study.out_dir; the second writes the report of a study directory again (e.g. while cells are
missing). On a TPU pod or a Slurm cluster the launchers run it on every host (BUILD.md).
Bad input is one `error:` line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tailjax.study",
        description="Train and evaluate every cell of a study config's grid (variant x seed x "
                    "any dotted key), each a resumable training run in study.out_dir/cells/NAME, "
                    "then write the comparison report (results.md, results.json, plots). "
                    "`python -m tailjax.study report DIR` writes the report of a study "
                    "directory again.")
    p.add_argument("--config", required=True,
                   help="study config: a training config with a study section "
                        "(e.g. configs/study/addition-cpu.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the study config for every cell, e.g. "
                        "study.out_dir=runs/s2 or train.steps=100 (repeatable)")
    p.add_argument("--cells", metavar="NAMES",
                   help="run only these cells: comma-separated names or patterns such as "
                        "'tail_*' (default: all; --dry-run lists them)")
    p.add_argument("--dry-run", action="store_true",
                   help="list the cells, what each one sets and whether it is done, "
                        "resumes or is new; run nothing")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    from tailjax import distributed

    distributed.add_arguments(p)
    return p


def build_report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tailjax.study report",
        description="Write the report of a study directory: results.md, results.json, "
                    "accuracy.png and accuracy_by_length.png.")
    p.add_argument("dir", help="the study's directory (its study.out_dir)")
    p.add_argument("--no-failures", action="store_true",
                   help="skip the failure analysis (it regenerates each wrong answer's "
                        "reference trace)")
    return p


def report_main(argv: Sequence[str]) -> int:
    from tailjax.study.report import report_markdown, write_report

    args = build_report_parser().parse_args(argv)
    try:
        files = write_report(args.dir, divergence=not args.no_failures)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import json

    from tailjax.paths import resolve

    print(report_markdown(json.loads(resolve(files[0]).read_text())))
    print(f"wrote {', '.join(files)}")
    return 0


def dry_run(path: str, overrides: Sequence[str], cells) -> None:
    """One line per cell: its name, done / resumes from step N / new, and what it sets.
    ValueError, as the run would give, for a started cell whose config changed (before any
    line is printed)."""
    from tailjax.study.grid import cell_config
    from tailjax.study.run import cell_dir, check_unchanged, progress_of, read_record

    lines = []
    for cell in cells:
        cfg = cell_config(path, overrides, cell)
        check_unchanged(cell, cfg, read_record(cell_dir(cfg)))
        lines.append(f"{cell.name}\t{progress_of(cell_dir(cfg))}\t{' '.join(cell.overrides)}")
    print("\n".join(lines))


def main(argv: Sequence[str] | None = None, *, as_program: bool = False) -> int:
    """The command line. as_program: this process is `python -m tailjax.study` and may re-exec
    itself once with huge-page malloc on a CPU, as `python -m tailjax.train` does."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        return report_main(argv[1:])
    args = build_parser().parse_args(argv)
    from tailjax.config import load_config
    from tailjax.study.grid import cell_config, expand, select

    try:
        study_cfg = load_config(args.config, args.set)
        cells = expand(study_cfg)
        chosen = select(cells, args.cells)
        if args.dry_run:
            dry_run(args.config, args.set, chosen)
            return 0
        configs = [cell_config(args.config, args.set, c) for c in chosen]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cpu_devices = {cfg.mesh.cpu_devices for cfg in configs}
    if len(cpu_devices) > 1:
        print("error: the cells differ in mesh.cpu_devices, which one process sets once; "
              "keep mesh.cpu_devices out of study.grid", file=sys.stderr)
        return 2
    return _run(args, study_cfg, cells, chosen, cpu_devices.pop(), as_program)


def _run(args, study_cfg, cells, chosen, cpu_devices: int, as_program: bool) -> int:
    from tailjax.host import use_cpu_devices
    from tailjax.model.speed import fast_paths
    from tailjax.train import exit_status

    use_cpu_devices(cpu_devices, huge_pages=as_program and fast_paths(backend="cpu"))
    return exit_status(lambda: _train_cells(args, study_cfg, cells, chosen))


def _train_cells(args, study_cfg, cells, chosen) -> None:
    """Join the hosts, record the grid, run the chosen cells, and write the report when they
    are all done."""
    from tailjax import distributed
    from tailjax.study.report import write_report
    from tailjax.study.run import DONE, pending_cells, run_cells, write_study

    distributed.initialize_from_args(args)
    import jax

    main_process = jax.process_index() == 0

    def say(line: str) -> None:
        if main_process:
            print(f"study: {line}", file=sys.stderr, flush=True)

    pending = pending_cells(args.config, args.set, chosen, say=say)  # refuses before it writes
    if main_process:
        write_study(study_cfg.study.out_dir, args.config, args.set, cells, study_cfg.study.grid)
    status = run_cells(pending, progress=not args.no_progress, say=say)
    if status == DONE and main_process and not args.no_report:
        files = write_report(study_cfg.study.out_dir)
        say(f"wrote {', '.join(files)}")


if __name__ == "__main__":
    sys.exit(main(as_program=True))
