"""The grain pipeline: task records -> tokens -> packed rows -> per-process batches.

Read top to bottom:

1. records: synthesized on the fly by index (a pure function of task, split, seed, index), or
   read from JSONL files; one stream per (task, split), test instances removed;
2. mixing by weight (task weight x split weight) and a seeded global shuffle, repeated for the
   epochs; each process keeps every process_count-th record (its share);
3. tokenizing prompt + completion + end token, with the loss on completion tokens only; a sample
   longer than the row is dropped and counted, never truncated (a cut trace teaches a wrong
   answer); with data.resumed, a share of the records is resumed mid-trace (`resumed`);
4. packing several samples per row (segment ids and positions restart per sample) and batching.

The iterator has get_state/set_state; `tailjax.checkpoint` saves it with every checkpoint.
"""

from __future__ import annotations

import hashlib
import math
import random

import grain
import numpy as np

from tailjax.data.records import read_records
from tailjax.tasks import canonical_key, synthesize
from tailjax.tasks.simulation.addition import resume_tail, tail_columns

FIELDS = ("inputs", "targets", "loss_mask")  # per-token arrays of one row
BATCH_KEYS = FIELDS + ("segment_ids", "positions")
PACK_BINS = 16
CONTEXT_WEIGHT = 1e-6  # the loss weight of a resumed record's context tokens


class Encoder:
    """record -> {inputs, targets, loss_mask} (next-token pairs), or None when over-long.

    inputs and targets are int32 [n], loss_mask float32 [n]: 0 where the target is a prompt
    token, 1 where it is a completion token or the end token. `resumed` (data.resumed) is the
    share of records resumed mid-trace (`resumed`): their context stands between prompt and
    completion with weight CONTEXT_WEIGHT, so a model reads it but never learns to write it;
    it is no prompt (step.loss_sums takes the prompt to be where the weight is 0). With 0 every
    record is encoded whole. `dropped` counts the over-long samples this process has met.
    """

    def __init__(self, tokenizer, max_length: int, resumed: float = 0.0):
        self.tokenizer, self.max_length, self.resumed = tokenizer, max_length, resumed
        self.end_id = tokenizer.end_ids[0]
        self.dropped = 0

    def __call__(self, record: dict) -> dict | None:
        prompt = self.tokenizer.encode(record["prompt"])
        context_text, completion_text = (resumed(record, self.resumed) if self.resumed
                                         else ("", record["completion"]))
        context = self.tokenizer.encode(context_text) if context_text else []
        completion = self.tokenizer.encode(completion_text) + [self.end_id]
        ids = np.asarray(prompt + context + completion, np.int32)
        if len(ids) - 1 > self.max_length:
            self.dropped += 1
            return None
        # targets[j] = ids[j + 1]; it is a context or completion token from j = len(prompt) - 1 on.
        mask = np.zeros(len(ids) - 1, np.float32)  # a weight per target token
        mask[len(prompt) - 1:] = 1.0
        mask[len(prompt) - 1:len(prompt) + len(context) - 1] = CONTEXT_WEIGHT
        return {"inputs": ids[:-1], "targets": ids[1:], "loss_mask": mask}


def resumed(record: dict, share: float) -> tuple[str, str]:
    """(context, completion) of a training record when a `share` of them is resumed
    (data.resumed): ("", its completion) for about 1 - share of the records; for the others its
    tagged `tail` addition trace resumed after 1..n digit columns, drawn uniformly
    (`simulation.addition.resume_tail`). Deterministic per record: both draws come from an rng
    seeded by the sha256 of the prompt. ValueError when a record to resume is no such trace.

    Why: trained whole on 2-6 digits, the loop learns to stop after a count of columns; in
    resumed records that count differs from the place reached (docs/results, runs 18 and 21).
    """
    rng = random.Random(hashlib.sha256(record["prompt"].encode()).digest())
    if rng.random() < 1 - share:
        return "", record["completion"]
    done = rng.randint(1, len(tail_columns(record["completion"])))
    return resume_tail(record["completion"], done)


def _lengths(table: dict, split: str):
    rng = table.get(split)
    return tuple(rng) if rng else None


def excluded(task: str, ranges, integer: bool = False) -> frozenset:
    """Every test instance of `task` training must avoid: the test sets of all splits with the
    default length ranges and with each of `ranges` (the data and eval overrides), sampled as
    training samples them (`integer`) and as plain records."""
    from tailjax.data.records import excluded_keys

    keys = excluded_keys(task, integer=integer)
    for lengths in {tuple(r) for r in ranges}:
        keys |= excluded_keys(task, lengths, integer)
    return keys


def record_streams(data_cfg, eval_ranges=()) -> list[tuple[grain.MapDataset, float]]:
    """One (record dataset, weight) per (task, split) of the config, with every test instance
    removed (also those of the test sets at the `eval_ranges` length overrides)."""
    ranges = [*data_cfg.lengths.values(), *eval_ranges]
    weights = {(t, s): wt * ws for t, wt in data_cfg.tasks.items()
               for s, ws in data_cfg.splits.items() if wt * ws > 0}
    streams = []
    if data_cfg.source == "synthesize":
        for (task, split), weight in weights.items():
            lengths = _lengths(data_cfg.lengths, split)
            test = excluded(task, ranges, data_cfg.integer)

            def make(index, task=task, split=split, lengths=lengths):
                return synthesize(task, split, data_cfg.seed, int(index), data_cfg.variant,
                                  lengths, data_cfg.template, data_cfg.notation,
                                  data_cfg.integer)

            ds = grain.MapDataset.range(data_cfg.per_task).map(make)
            ds = ds.filter(lambda r, test=test: canonical_key(r["task"], r["instance"]) not in test)
            streams.append((ds, weight))
        return streams
    groups: dict[tuple[str, str], list[dict]] = {key: [] for key in weights}
    for path in data_cfg.files:
        for record in read_jsonl(path):
            key = (record["task"], record["split"])
            if key in groups:
                groups[key].append(record)
    for (task, split), records in groups.items():
        if not records:
            raise ValueError(f"data.files hold no records of task {task} split {split}; "
                             "generate them or drop the task/split from data.tasks/data.splits")
        test = excluded(task, ranges, data_cfg.integer)
        records = [r for r in records if canonical_key(task, r["instance"]) not in test]
        streams.append((grain.MapDataset.source(records), weights[(task, split)]))
    return streams


def read_jsonl(path: str) -> list[dict]:
    """The records of a data.files JSONL file, each with the keys training reads."""
    try:
        return read_records(path, ("task", "split", "instance", "prompt", "completion"))
    except FileNotFoundError:
        raise ValueError(f"data file {path} does not exist") from None


def mixed_records(data_cfg, epochs: float = 1.0, process_index: int = 0,
                  process_count: int = 1, eval_ranges=()) -> grain.IterDataset:
    """This process's share of every stream, each shuffled by seed and repeated for `epochs`,
    mixed by weight. Streams are mixed after test instances are removed, so the weights hold
    for the records actually trained on."""
    streams = []
    for i, (ds, weight) in enumerate(record_streams(data_cfg, eval_ranges)):
        ds = ds.shuffle(seed=data_cfg.seed * 1009 + i)
        ds = ds.repeat(max(1, math.ceil(epochs)))[: int(len(ds) * epochs)]
        # Records are synthesized in Python (GIL-bound): two threads keep ahead of the step.
        read = grain.ReadOptions(num_threads=2, prefetch_buffer_size=64)
        streams.append((ds[process_index::process_count].to_iter_dataset(read), weight))
    if len(streams) == 1:
        return streams[0][0]
    return grain.IterDataset.mix([s for s, _ in streams], [w for _, w in streams])


def _pad_row(sample: dict, length: int) -> dict:
    n = len(sample["inputs"])
    row = {k: np.zeros(length, np.float32 if k == "loss_mask" else np.int32)
           for k in BATCH_KEYS}
    for k in FIELDS:
        row[k][:n] = sample[k]
    row["segment_ids"][:n] = 1
    row["positions"][:n] = np.arange(n)
    return row


def _rename_packed(row: dict) -> dict:
    return {"inputs": row["inputs"], "targets": row["targets"], "loss_mask": row["loss_mask"],
            "segment_ids": row["inputs_segment_ids"], "positions": row["inputs_positions"]}


def batches(records: grain.IterDataset, encoder: Encoder, rows: int, pack: bool = True,
            seed: int = 0) -> grain.IterDataset:
    """Batches of `rows` rows of encoder.max_length tokens: dicts of [rows, T] arrays (int32;
    loss_mask float32). The last incomplete batch is dropped, so every step has one shape.
    """
    length = encoder.max_length
    ds = records.map(encoder).filter(lambda s: s is not None)
    if pack:
        # More open bins than rows per batch pack tighter (a sample finds a bin it fits).
        ds = grain.experimental.FirstFitPackIterDataset(
            ds, length_struct={k: length for k in FIELDS}, num_packing_bins=max(rows, PACK_BINS),
            seed=seed, shuffle_bins=False)
        ds = ds.map(_rename_packed)
    else:
        ds = ds.map(lambda s: _pad_row(s, length))
    ds = ds.map(lambda row: {k: np.asarray(row[k], np.float32 if k == "loss_mask" else np.int32)
                             for k in BATCH_KEYS})
    return ds.batch(rows, drop_remainder=True)


def train_batches(cfg, tokenizer, shard_index: int = 0, shard_count: int = 1):
    """(iterator dataset, encoder) of one data shard's training batches for the config.

    A process loads the shard `tailjax.distributed.data_shard` gives it: batch_size / shard_count
    rows per step, from every shard_count-th record. With packing, which samples share a row
    depends on the shard count, so the global batches of a 2-host and a 1-host run differ (the
    records are the same); with data.pack false they are the same rows.
    """
    if cfg.train.batch_size % shard_count:
        raise ValueError(f"train.batch_size {cfg.train.batch_size} is not divisible by the "
                         f"{shard_count} data shards of the processes")
    records = mixed_records(cfg.data, cfg.train.epochs, shard_index, shard_count,
                            list(cfg.eval.ranges().values()))
    encoder = Encoder(tokenizer, cfg.data.max_length, cfg.data.resumed)
    ds = batches(records, encoder, cfg.train.batch_size // shard_count, cfg.data.pack,
                 cfg.data.seed)
    return ds, encoder


def validation_batches(cfg, tokenizer, n_per_stream: int = 64) -> list[dict]:
    """Fixed batches from the test instances of the training streams (never trained on), each
    trace whole (data.resumed does not apply: eval decodes whole traces)."""
    from tailjax.data.records import test_set

    records = []
    for task in cfg.data.tasks:
        for split in cfg.data.splits:
            records += test_set(task, split, n_per_stream, cfg.data.variant,
                                _lengths(cfg.data.lengths, split), None, cfg.data.notation,
                                cfg.data.integer)
    encoder = Encoder(tokenizer, cfg.data.max_length)
    ds = batches(grain.MapDataset.source(records).to_iter_dataset(), encoder,
                 cfg.train.batch_size, cfg.data.pack)
    return list(ds)[: cfg.train.val_batches]


def mean_tokens(data_cfg, tokenizer, n: int = 200) -> float:
    """The mean tokens per sample over the first n records (to size an epoch in steps)."""
    streams = record_streams(data_cfg)
    encoder = Encoder(tokenizer, 10**9, data_cfg.resumed)
    sizes, weights = [], []
    for ds, weight in streams:
        sample = [encoder(r) for r in ds[: min(n, len(ds))] if r is not None]
        sizes.append(np.mean([len(s["inputs"]) for s in sample]))
        weights.append(weight)
    return float(np.average(sizes, weights=weights))


def steps_per_epoch(cfg, tokenizer) -> int:
    """Optimizer steps one epoch takes, estimated from the mean sample length (packing fills rows
    to about 95%)."""
    streams = record_streams(cfg.data)
    mixed = grain.MapDataset.mix([s for s, _ in streams], [w for _, w in streams])
    if not cfg.data.pack:
        return max(1, len(mixed) // cfg.train.batch_size)
    tokens = len(mixed) * mean_tokens(cfg.data, tokenizer)
    per_step = cfg.train.batch_size * cfg.data.max_length * 0.95
    return max(1, math.ceil(tokens / per_step))


__all__ = ["Encoder", "batches", "mixed_records", "read_jsonl", "record_streams", "resumed",
           "steps_per_epoch", "train_batches", "validation_batches"]
