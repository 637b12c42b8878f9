"""`python -m tailjax.data`: list the tasks, generate record files, print their length
statistics, verify that two files share no instance.

    python -m tailjax.data list
    python -m tailjax.data generate --task addition --split S --n 1000 --seed 1 \\
        --variant tail-styled --out train.jsonl
    python -m tailjax.data generate --task addition --mix S=0.8,M=0.1,L=0.1 --n 1000 --seed 1 \\
        --out mix.jsonl
    python -m tailjax.data stats train.jsonl [more.jsonl ...] [--tokenizer char|tail-bpe|HF_DIR]
    python -m tailjax.data stats --test-sets --n 500 --variant tail-styled --tokenizer HF_DIR \
        --markdown
    python -m tailjax.data verify train.jsonl test.jsonl
"""

from __future__ import annotations

import argparse
import os
import sys

from tailjax.data import records
from tailjax.data.stats import format_markdown, format_table, length_stats
from tailjax.tasks import NOTATIONS, SPLITS, TASKS, VARIANTS, check_split
from tailjax.tokenizer import load_tokenizer


class _Parser(argparse.ArgumentParser):
    """Usage errors as one `error: ...` line and exit 2, like every other bad input."""

    def error(self, message):
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_mix(text: str) -> dict[str, float]:
    """"S=0.8,M=0.1,L=0.1" -> {"S": 0.8, "M": 0.1, "L": 0.1}."""
    mix = {}
    for part in text.split(","):
        split, eq, weight = part.partition("=")
        split = split.strip()
        try:
            if not eq:
                raise ValueError
            mix[check_split(split)] = float(weight)
        except ValueError as e:
            if str(e).startswith("unknown split"):
                raise
            raise ValueError(f"bad --mix item {part!r}; write it as SPLIT=WEIGHT, e.g. "
                             "S=0.8,M=0.1,L=0.1") from None
    return mix


def parse_lengths(text: str) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"bad --lengths {text!r}; write it as LO,HI, e.g. 3,8") from None
    if not 0 < lo <= hi:
        raise ValueError(f"bad --lengths {text!r}: need 0 < LO <= HI")
    return lo, hi


def check_writable(path: str):
    """Fail before the work, not after: the output's folder must exist and be writable."""
    if path == "-":
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"--out {path} is a directory; give a file path such as {path}/data.jsonl")
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write --out {path}: folder {folder} does not exist; create it "
                         "first")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ValueError(f"cannot write --out {path}: permission denied; choose a writable path")


def cmd_list(args):
    for name, t in TASKS.items():
        ranges = " ".join(f"{s}={t.ranges[s][0]}-{t.ranges[s][1]}" for s in SPLITS)
        tests = "/".join(str(records.test_size(name, s)) for s in SPLITS)
        extra = f"  extra variants: {', '.join(t.extra_variants)}" if t.extra_variants else ""
        extra += f"  notations: plain, {', '.join(t.notations)}" if t.notations else ""
        extra += "  option: --integer" if t.sample_integer else ""
        print(f"{name:<22}{t.paradigm:<22}{ranges:<26}test sets {tests}{extra}")
    print(f"variants of every task: {', '.join(VARIANTS)}")
    print(f"test sets: the first {records.TEST_SIZE} distinct instances of seed "
          f"{records.TEST_SEED} per task and split, or the first half of a split that has fewer "
          "instances in all; every other seed skips them, up to each task's symmetries")


def cmd_generate(args):
    records.check_request(args.task, args.variant, args.template, args.notation, args.integer)
    if args.n <= 0:
        raise ValueError(f"--n must be positive, got {args.n}")
    if (args.split is None) == (args.mix is None):
        raise ValueError("give exactly one of --split S|M|L and --mix S=0.8,M=0.1,L=0.1")
    lengths = parse_lengths(args.lengths) if args.lengths else None
    check_writable(args.out)
    mix = parse_mix(args.mix) if args.mix is not None else {check_split(args.split): 1.0}
    planned = records.plan(args.task, mix, args.n, args.seed, lengths, args.integer)
    recs = records.iter_records(args.task, planned, args.seed, args.variant, lengths,
                                args.template, args.notation, args.integer)
    if args.out == "-":
        for r in recs:
            sys.stdout.write(records.dumps(r) + "\n")
        return
    try:
        n = records.write_records(recs, args.out)
    except OSError as e:
        raise ValueError(f"cannot write --out {args.out}: {e.strerror}") from None
    print(f"wrote {n} records to {args.out}", file=sys.stderr)


def _read(path: str) -> list[dict]:
    try:
        return records.read_records(path)
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None


def cmd_stats(args):
    if bool(args.files) == args.test_sets:
        raise ValueError("give record files or --test-sets (the eval's test sets of every task "
                         "and split), not both and not neither")
    if args.n <= 0:
        raise ValueError(f"--n must be positive, got {args.n}")
    tok = load_tokenizer(args.tokenizer)
    if args.test_sets:
        recs = [r for task in TASKS for split in SPLITS
                for r in records.test_set(task, split, min(args.n, records.TEST_SIZE),
                                          args.variant)]
    else:
        recs = [r for path in args.files for r in _read(path)]
    if not recs:
        raise ValueError("the record files hold no records")
    print((format_markdown if args.markdown else format_table)(length_stats(recs, tok),
                                                               args.tokenizer))


def cmd_verify(args):
    a, b = _read(args.a), _read(args.b)
    keys_a = {records.record_key(r) for r in a}
    shared = [r for r in b if records.record_key(r) in keys_a]
    if shared:
        first = shared[0]
        print(f"error: {args.a} and {args.b} share {len(shared)} instance(s), e.g. "
              f"{first['task']} {records.instance_key(first['instance'])[:120]} (up to the "
              "task's symmetries)", file=sys.stderr)
        return 1
    print(f"ok: {args.a} ({len(a)} records) and {args.b} ({len(b)} records) share no instance")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tailjax.data", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="one line per task: name, paradigm, S/M/L length ranges")
    g = sub.add_parser("generate", help="write records as JSON lines")
    g.add_argument("--task", required=True, help="a task name (see `list`)")
    g.add_argument("--split", help="S, M or L")
    g.add_argument("--mix", help="draw from several splits by weight, e.g. S=0.8,M=0.1,L=0.1")
    g.add_argument("--n", type=int, required=True, help="number of records")
    g.add_argument("--seed", type=int, required=True,
                   help=f"stream seed; {records.TEST_SEED} gives the test sets (at most their "
                        "size, see `list`), any other seed excludes their instances")
    g.add_argument("--variant", default="tail-styled",
                   help=f"one of {', '.join(VARIANTS)} (addition also: index-hint, reversed)")
    g.add_argument("--lengths", help="LO,HI: override the split's length range")
    g.add_argument("--template", type=int, help="use prompt template K for every record")
    g.add_argument("--notation", default="plain", choices=NOTATIONS,
                   help="how numbers are written: plain (the paper's) or tagged (addition: "
                        "every digit followed by a letter naming its place, the answer on "
                        "tape s; needs --integer)")
    g.add_argument("--integer", action="store_true",
                   help="integer-only operands (addition)")
    g.add_argument("--out", required=True, help="output .jsonl path ('-' for stdout)")
    s = sub.add_parser("stats", help="count, completion chars and tokens per task and split, the "
                                     "share over 4096/8192/32768 tokens, the auto eval budget")
    s.add_argument("files", nargs="*", help="record files (.jsonl)")
    s.add_argument("--tokenizer", default="char",
                   help="'char', 'tail-bpe' or a local HF tokenizer dir (Qwen2.5's: python -m "
                        "tailjax.tokenizer qwen2.5 --out DIR)")
    s.add_argument("--test-sets", action="store_true",
                   help="instead of files: the first --n records of the test set (seed "
                        f"{records.TEST_SEED}) of every task and split, in --variant")
    s.add_argument("--n", type=int, default=records.TEST_SIZE,
                   help=f"with --test-sets: records per task and split (default "
                        f"{records.TEST_SIZE}; derangement's test sets hold fewer)")
    s.add_argument("--variant", default="tail-styled", help="with --test-sets: the trace variant")
    s.add_argument("--markdown", action="store_true", help="a Markdown table (token columns)")
    v = sub.add_parser("verify", help="check that two record files share no instance")
    v.add_argument("a")
    v.add_argument("b")
    return p


COMMANDS = {"list": cmd_list, "generate": cmd_generate, "stats": cmd_stats, "verify": cmd_verify}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args) or 0
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
