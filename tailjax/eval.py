"""`python -m tailjax.eval`: greedy pass@1 per task and length split.

The test sets are fixed (their own seed, disjoint from training), decoded in batches with the
KV-cache decoder, and scored deterministically with `tailjax.tasks.score` (the last `\\boxed{}`,
or the tape it names, against the canonical answer; no model judges). An output without a
`\\boxed{}`, or whose named tape holds no number, is wrong and counted as "unparsed"; one that
spent the whole token budget is counted as "truncated" and scored on what it wrote. The budget is
per (task, split): `eval.max_new_tokens: auto` derives it from the cell's reference traces under
the model's tokenizer (tailjax/budgets.py), a number sets one budget for all; a cell whose
references do not fit, or whose outputs hit the budget more often than eval.warn_truncated, is
named in a warning line (stderr, results.json, results.md).
Writes results.json, results.md (tasks x S/M/L, like the paper's Figure 4),
accuracy.png, samples.jsonl (every prompt's output, for reading failures) and
accuracy_by_length.png (pass@1 against input length, the trained lengths shaded).

The checkpoint may be an HF directory (a downloaded Qwen2.5 evaluated zero-shot, the paper's
baseline row), a tailjax model checkpoint, or a training run's checkpoint directory.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

from tailjax import budgets as budgets_lib
from tailjax import tasks as tasks_lib
from tailjax.config import STRETCH
from tailjax.paths import resolve
from tailjax.results import results_markdown, write_results



def test_records(task: str, split: str, n: int, variant: str,
                 lengths: Sequence[int] | None = None, template: int | None = None,
                 notation: str = "plain", integer: bool = False) -> list[dict]:
    """The first n test records of (task, split): fixed, and disjoint from any training stream.
    Split STRETCH draws L's test stream at `lengths` and labels the records "stretch"."""
    return [record for record, _ in traced_test_records(task, split, n, variant, lengths,
                                                        template, notation, integer)]


def traced_test_records(task: str, split: str, n: int, variant: str,
                        lengths: Sequence[int] | None = None, template: int | None = None,
                        notation: str = "plain", integer: bool = False) -> list[tuple]:
    """`test_records`, each with the Trace its completion renders ((record, Trace) pairs)."""
    from tailjax.data.records import traced_test_set

    pairs = traced_test_set(task, "L" if split == STRETCH else split, n, variant,
                            lengths=tuple(lengths) if lengths else None, template=template,
                            notation=notation, integer=integer)
    return [({**r, "split": split}, trace) for r, trace in pairs]


def check_eval_split(split: str) -> str:
    """`split` when it is S, M, L or STRETCH; ValueError otherwise."""
    return split if split == STRETCH else tasks_lib.check_split(split)


def eval_options(cfg) -> dict:
    """The keyword arguments of `evaluate` that a training config sets (eval.*, data.*)."""
    lengths = cfg.eval.ranges()
    splits = [*cfg.eval.splits, *([STRETCH] if STRETCH in lengths else [])]
    return dict(splits=splits, n=cfg.eval.n, variant=cfg.data.variant, lengths=lengths,
                batch_size=cfg.eval.batch_size, max_new_tokens=cfg.eval.max_new_tokens,
                budget_margin=cfg.eval.budget_margin, warn_truncated=cfg.eval.warn_truncated,
                batch_tokens=cfg.eval.batch_tokens,
                template=cfg.data.template, notation=cfg.data.notation,
                integer=cfg.data.integer, attention_scale=cfg.eval.attention_scale,
                train_lengths={s: list(r) for s, r in cfg.data.lengths.items()
                               if s in cfg.data.splits})


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    """The token ids the model continues: the prompt exactly as training encodes it."""
    return tokenizer.encode(prompt)


def evaluate(model, tokenizer, task_names: Sequence[str], splits: Sequence[str], n: int,
             variant: str = "tail-styled", lengths: Mapping[str, Sequence[int]] | None = None,
             batch_size: int = 64, max_new_tokens: int | str = budgets_lib.AUTO, mesh=None,
             progress: bool = True, decoder=None, template: int | None = None,
             notation: str = "plain", integer: bool = False, attention_scale: float = 1.0,
             train_lengths: Mapping[str, Sequence[int]] | None = None,
             budget_margin: float = budgets_lib.MARGIN,
             warn_truncated: float = budgets_lib.WARN_TRUNCATED, batch_tokens: int = 0,
             warn: Callable[[str], None] | None = None) -> dict:
    """Decode and score n test items per (task, split); the results dict `write_results` takes.

    lengths: reduced length ranges per split (the CPU demo's), else each task's own ranges;
        split "stretch" (STRETCH) needs one.
    max_new_tokens: new tokens per output, one number for every cell, or "auto": per (task,
        split), its longest reference completion plus the end token, times budget_margin, on
        the budget grid (tailjax/budgets.py).
    batch_size: rows per decode batch; batch_tokens > 0 caps them per budget so that a batch's
        KV cache holds at most batch_tokens tokens (rows x (prompt + budget)).
    template: the prompt template the model was trained on (data.template), None for all.
    notation, integer: how the training data wrote its numbers (data.notation, data.integer).
    attention_scale: multiplies the global heads' attention logits (Qwen2Config.
        attn_logit_scale) while decoding; 1.0 decodes the model as trained.
    train_lengths: the trained length range per split, recorded for the plot's shading.
    warn_truncated: a cell whose share of outputs that hit the budget exceeds it gets a warning.
    warn: called with each warning line (default: printed to stderr as "warning: ...").
    Results hold accuracy per (task, split), with each cell's budget ("max_new_tokens") and
    longest reference ("reference_tokens", end token included), accuracy per (task, input
    length) ("by_length"), and the warnings.
    Raises ValueError on a bad setting (one line naming it and the fix).
    """
    from tailjax.decode import Decoder

    if batch_size < 1 or n < 1:
        raise ValueError(f"batch_size and n must be positive, got {batch_size} and {n}")
    max_new_tokens = budgets_lib.check_setting(max_new_tokens)
    budgets_lib.check_margin(budget_margin)
    budgets_lib.check_warn_share(warn_truncated)
    budgets_lib.check_batch_tokens(batch_tokens)
    warn = warn or _warn_on_stderr
    task_names = [tasks_lib.get_task(t).name for t in task_names]
    lengths = dict(lengths or {})
    splits = [check_eval_split(s) for s in splits]
    if STRETCH in splits and STRETCH not in lengths:
        raise ValueError("split stretch needs its length range (eval.stretch: [low, high])")
    if attention_scale != 1.0:
        from tailjax.model.qwen2 import from_params, params_of

        model = from_params(model.config.replace(attn_logit_scale=attention_scale),
                            params_of(model))
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                         f"{model.config.vocab_size}; evaluate with the model's own tokenizer")
    decoder = decoder or Decoder(model, mesh=mesh)
    records = []
    for task in task_names:
        for split in splits:
            records += test_records(task, split, n, variant, lengths.get(split), template,
                                    notation, integer)
    items = encode_items(tokenizer, records)
    needs = reference_needs(items)
    budgets = budgets_lib.cell_budgets(needs, max_new_tokens, budget_margin)
    warnings = budgets_lib.coverage_warnings(needs, budgets, _over_budget(items, budgets))
    for line in warnings:
        warn(line)
    samples = _decode_and_judge(decoder, tokenizer, model.config, items, budgets, batch_size,
                                batch_tokens, progress)
    table = {t: {s: {**_tally([x for x in samples if x["task"] == t and x["split"] == s]),
                     "max_new_tokens": budgets[t, s], "reference_tokens": needs[t, s]}
                 for s in splits} for t in task_names}
    by_length = {t: {str(n_): _tally([x for x in samples if x["task"] == t and
                                      x["length"] == n_])
                     for n_ in sorted({x["length"] for x in samples if x["task"] == t})}
                 for t in task_names}
    truncation = budgets_lib.truncation_warnings(table, warn_truncated, max_new_tokens)
    for line in truncation:
        warn(line)
    return {"variant": variant, "notation": notation, "n": n, "max_new_tokens": max_new_tokens,
            "budget_margin": budget_margin, "warn_truncated": warn_truncated,
            "batch_size": batch_size, "batch_tokens": batch_tokens,
            "attention_scale": attention_scale,
            "lengths": {s: list(r) for s, r in lengths.items()},
            "train_lengths": {s: list(r) for s, r in (train_lengths or {}).items()},
            "tasks": table, "by_length": by_length, "warnings": warnings + truncation,
            "samples": samples}


def _warn_on_stderr(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr, flush=True)


class Item(NamedTuple):
    """A test record as the decoder sees it: prompt ids, and the tokens its reference output
    takes (completion + end token)."""

    record: dict
    ids: list[int]
    need: int


def encode_items(tokenizer, records: Sequence[dict]) -> list[Item]:
    """Each record's prompt ids and the length of its reference output in tokens (the completion
    as training encodes it, plus the end token)."""
    return [Item(r, prompt_ids(tokenizer, r["prompt"]),
                 len(tokenizer.encode(r["completion"])) + 1) for r in records]


def reference_needs(items: Sequence[Item]) -> dict[tuple[str, str], int]:
    """{(task, split): the longest reference output of the cell in tokens, end token included},
    in order of first appearance."""
    needs: dict[tuple[str, str], int] = {}
    for item in items:
        cell = item.record["task"], item.record["split"]
        needs[cell] = max(needs.get(cell, 0), item.need)
    return needs


def _over_budget(items: Sequence[Item], budgets: Mapping) -> dict:
    """{cell: (references longer than the cell's budget, items)}."""
    counts: dict = {}
    for item in items:
        cell = item.record["task"], item.record["split"]
        over, total = counts.get(cell, (0, 0))
        counts[cell] = (over + (item.need > budgets[cell]), total + 1)
    return counts


def _decode_and_judge(decoder, tokenizer, model_cfg, items: Sequence[Item], budgets: Mapping,
                      batch_size: int, batch_tokens: int, progress: bool) -> list[dict]:
    """Greedy completions of the items' prompts, each judged against its answer (`_judge`):
    one group per budget (each a decode shape of its own), smallest first, in batches of
    `rows_per_batch` rows; inside a group, in order of reference length."""
    from tqdm import tqdm

    from tailjax.tokenizer import stop_ids

    groups: dict[int, list[Item]] = {}
    for item in items:
        groups.setdefault(budgets[item.record["task"], item.record["split"]], []).append(item)
    ends = stop_ids(tokenizer, model_cfg)
    samples = []
    bar = tqdm(total=len(items), desc="eval", unit="item", disable=not progress, file=sys.stderr)
    for budget in sorted(groups):
        # Rows of similar expected length share a batch, so few rows idle while others finish.
        group = sorted(groups[budget], key=lambda item: (item.need, len(item.ids)))
        rows = budgets_lib.rows_per_batch(budget, max(len(item.ids) for item in group),
                                          batch_size, batch_tokens,
                                          getattr(decoder, "row_multiple", 1))
        for start in range(0, len(group), rows):
            batch = group[start:start + rows]
            # Every batch padded to `rows` rows: the last, partial one reuses the compile.
            out = decoder.generate([item.ids for item in batch], budget, ends,
                                   pad_id=tokenizer.pad_id, rows=rows,
                                   vocab_limit=tokenizer.vocab_size)
            for item, row, truncated in zip(batch, out.rows(), out.truncated):
                text = tokenizer.decode([t for t in row if t not in ends])
                samples.append(_judge(item.record, text, len(row), bool(truncated)))
            bar.update(len(batch))
    bar.close()
    return samples


def _judge(record: dict, text: str, generated: int, truncated: bool) -> dict:
    parsed = tasks_lib.answer_text(record["task"], text)  # a tape's reading where a box names one
    return {"task": record["task"], "split": record["split"], "length": record["length"],
            "prompt": record["prompt"], "answer": record["answer"], "output": text,
            "parsed": parsed, "correct": tasks_lib.score(record["task"], text, record["answer"]),
            "unparsed": parsed is None, "truncated": truncated, "generated_tokens": generated}


def _tally(samples: list[dict]) -> dict:
    n = len(samples)
    correct = sum(s["correct"] for s in samples)
    return {"n": n, "correct": correct, "accuracy": correct / n if n else 0.0,
            "unparsed": sum(s["unparsed"] for s in samples),
            "truncated": sum(s["truncated"] for s in samples),
            "mean_generated_tokens": (float(np.mean([s["generated_tokens"] for s in samples]))
                                      if n else 0.0)}


def resolve_tokenizer(checkpoint: str, configured: str | None) -> str:
    """Which tokenizer a checkpoint decodes with: an HF directory's own files, else the one a
    tailjax checkpoint recorded, else the config's model.tokenizer ("char" for the tiny model)."""
    from tailjax.model import checkpoint_tokenizer

    return checkpoint_tokenizer(checkpoint) or configured or "char"


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _mesh_shape(text: str) -> dict[str, int]:
    """'data=2,tensor=4' -> {"data": 2, "tensor": 4}."""
    shape = {}
    for part in _csv(text):
        name, _, size = part.partition("=")
        try:
            shape[name.strip()] = int(size)
        except ValueError:
            raise ValueError(f"--mesh {text!r}: write axis sizes as name=int, e.g. "
                             "data=2,tensor=4") from None
    return shape


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tailjax.eval",
        description="Greedy pass@1 per task and length split; writes results.json, results.md, "
                    "accuracy.png and samples.jsonl. With --plan, prints the weights and KV "
                    "cache the decoder holds per device instead (e.g. the 7B config at batch "
                    "32 and 32k tokens: --plan --set model.preset=qwen2.5-7b --batch-size 32 "
                    "--plan-tokens 32768 --mesh data=2,tensor=4 [--compile]).")
    p.add_argument("--config", help="YAML config (its eval, data, model and mesh sections)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. eval.n=50 (repeatable)")
    p.add_argument("--checkpoint", help="HF directory, tailjax model checkpoint, or a training "
                                        "run's checkpoint directory (its latest step)")
    p.add_argument("--tasks", help="comma-separated task names (default: the config's "
                                   "data.tasks)")
    p.add_argument("--splits", help="comma-separated splits, e.g. S,M,L,stretch (default: "
                                    "eval.splits, and stretch when eval.stretch is set)")
    p.add_argument("--n", type=int, help="test items per task and split (default: eval.n)")
    p.add_argument("--variant", help="trace variant of the prompts (default: data.variant)")
    p.add_argument("--out", help="output directory (default: <train.out_dir>/eval)")
    p.add_argument("--batch-size", type=int, help="prompts decoded together (default: "
                                                  "eval.batch_size; 32 with --plan)")
    p.add_argument("--max-new-tokens",
                   help="new tokens per output: a number for every task and split, or auto "
                        "(each cell's longest reference trace + end token, times "
                        "eval.budget_margin; default: eval.max_new_tokens)")
    p.add_argument("--tokenizer", help="'char', 'tail-bpe' or an HF tokenizer directory "
                                       "(default: the checkpoint's own, else model.tokenizer)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"),
                   help="compute and parameter dtype (default: model.dtype)")
    p.add_argument("--mesh", help="mesh axis sizes, e.g. data=2,tensor=4 (default: mesh.shape)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--plan", action="store_true",
                   help="print the KV cache size per device and exit (needs no checkpoint)")
    p.add_argument("--compile", action="store_true",
                   help="with --plan: also compile the decode ahead of time on virtual CPU "
                        "devices (as many as the mesh has) and print its memory per device "
                        "beside the plan")
    p.add_argument("--plan-tokens", type=int, default=32768,
                   help="cache length (prompt + generated tokens) for --plan (default 32768)")
    from tailjax import distributed

    distributed.add_arguments(p)
    return p


def _plan(args, cfg) -> str:
    from tailjax.plan import plan_decode
    from tailjax.train_state import model_config

    shape = _mesh_shape(args.mesh) if args.mesh else dict(cfg.mesh.shape)
    if args.compile:
        if any(n < 1 for n in shape.values()):
            raise ValueError(f"--compile needs every mesh axis size given, e.g. --mesh "
                             f"data=2,tensor=4; got {shape}")
        # virtual CPU devices stand in for the accelerators (before JAX starts its backend)
        os.environ["JAX_PLATFORMS"] = "cpu"
        flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                         if "xla_force_host_platform_device_count" not in f)
        os.environ["XLA_FLAGS"] = (f"{flags} --xla_force_host_platform_device_count="
                                   f"{math.prod(shape.values())}")
    model_cfg, _ = model_config(cfg, allow_missing_init=True)
    if args.dtype:
        model_cfg = model_cfg.replace(dtype=args.dtype)
    return plan_decode(model_cfg, args.batch_size or 32, args.plan_tokens, shape,
                       compile=args.compile).describe()


def run(args) -> dict | str:
    """Everything main does, returning the results (or the plan's text) for tests to check."""
    from tailjax.config import load_config

    cfg = load_config(args.config, args.set)
    if args.plan:
        return _plan(args, cfg)
    from tailjax import distributed
    from tailjax.host import use_cpu_devices

    use_cpu_devices(cfg.mesh.cpu_devices)  # as training splits the CPU (before JAX starts)
    distributed.initialize_from_args(args)
    if not args.checkpoint:
        raise ValueError("--checkpoint is required: an HF directory, a tailjax model checkpoint "
                         "or a training run's checkpoint directory")
    options = eval_options(cfg)
    task_names = _csv(args.tasks) if args.tasks else list(cfg.data.tasks)
    if args.splits:
        options["splits"] = _csv(args.splits)
    if not task_names or not options["splits"]:
        raise ValueError("--tasks and --splits need at least one name each")
    for t in task_names:
        tasks_lib.get_task(t)
    for s in options["splits"]:
        check_eval_split(s)
    for key in ("n", "variant", "batch_size", "max_new_tokens"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    options["max_new_tokens"] = budgets_lib.check_setting(
        options["max_new_tokens"], "--max-new-tokens" if args.max_new_tokens is not None else
        "eval.max_new_tokens")

    import jax

    from tailjax import model as model_lib
    from tailjax.model import sharding
    from tailjax.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer or resolve_tokenizer(args.checkpoint,
                                                                  cfg.model.tokenizer))
    shape = _mesh_shape(args.mesh) if args.mesh else dict(cfg.mesh.shape)
    mesh = sharding.make_mesh(shape) if jax.device_count() > 1 else None
    model = model_lib.load(args.checkpoint, dtype=args.dtype or cfg.model.dtype, mesh=mesh)
    results = evaluate(model, tokenizer, task_names, **options, mesh=mesh,
                       progress=not args.no_progress)
    results["checkpoint"] = args.checkpoint
    out_dir = args.out or str(resolve(cfg.train.out_dir) / "eval")
    # Every process of a multi-host run holds the same results; one writes them.
    results["files"] = write_results(results, out_dir) if jax.process_index() == 0 else []
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if isinstance(result, str):
        print(result)
    else:
        print(results_markdown(result))
        print(f"wrote {', '.join(result['files'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
