"""The grain pipeline: masking, dropping (never truncating), packing, mixing, sharding, state."""

import collections
import json

import numpy as np
import pytest

from tailjax.config import load_config
from tailjax.data import pipeline
from tailjax.data import records as records_lib
from tailjax.tasks import canonical_key, synthesize
from tailjax.tokenizer import load_tokenizer

TOK = load_tokenizer("char")


def cfg(*overrides):
    return load_config(None, ["data.tasks={addition: 1}", "data.variant=tail",
                              "data.lengths={S: [1, 2]}", "data.max_length=1600",
                              "data.per_task=400", "train.batch_size=4", *overrides])


def samples_of(row):
    """The (inputs, targets, loss_mask) of each packed sample of one row, by segment id."""
    out = []
    for seg in range(1, row["segment_ids"].max() + 1):
        at = row["segment_ids"] == seg
        assert np.array_equal(row["positions"][at], np.arange(at.sum()))  # restart per sample
        out.append((row["inputs"][at], row["targets"][at], row["loss_mask"][at]))
    return out


def test_loss_mask_covers_the_completion_and_end_token_only():
    record = synthesize("addition", "S", 0, 0, "tail", (2, 2))
    sample = pipeline.Encoder(TOK, 2000)(record)
    prompt = TOK.encode(record["prompt"])
    completion = TOK.encode(record["completion"]) + [TOK.end_id]
    ids = prompt + completion
    assert sample["inputs"].tolist() == ids[:-1] and sample["targets"].tolist() == ids[1:]
    # Exactly the targets that are completion tokens (and the end token) carry loss.
    weighted = sample["targets"][sample["loss_mask"] == 1].tolist()
    assert weighted == completion
    assert sample["loss_mask"][: len(prompt) - 1].sum() == 0


def test_over_long_samples_are_dropped_and_counted_never_cut():
    records = [synthesize("addition", "S", 0, i, "tail", (1, 2)) for i in range(40)]
    sizes = [len(TOK.encode(r["prompt"] + r["completion"])) for r in records]
    limit = int(np.median(sizes))
    encoder = pipeline.Encoder(TOK, limit)
    kept = [s for s in map(encoder, records) if s is not None]
    assert encoder.dropped == sum(n > limit for n in sizes) > 0
    assert len(kept) == 40 - encoder.dropped
    for s in kept:  # every kept sample ends with the end token: nothing was truncated
        assert s["targets"][-1] == TOK.end_id and len(s["inputs"]) <= limit


def test_packed_rows_hold_whole_samples_with_their_own_positions():
    c = cfg()
    ds, encoder = pipeline.train_batches(c, TOK)
    batch = next(iter(ds))
    assert set(batch) == set(pipeline.BATCH_KEYS)
    assert batch["inputs"].shape == (4, 1600) and batch["loss_mask"].dtype == np.float32
    n_samples = 0
    for r in range(4):
        row = {k: v[r] for k, v in batch.items()}
        parts = samples_of(row)
        assert len(parts) >= 1
        for inputs, targets, mask in parts:
            n_samples += 1
            assert targets[-1] == TOK.end_id and mask[-1] == 1  # each ends with its end token
            assert np.array_equal(inputs[1:], targets[:-1])     # contiguous, uncut
        assert row["loss_mask"][row["segment_ids"] == 0].sum() == 0  # padding carries no loss
    assert n_samples > 4  # rows are packed with several samples


def test_training_data_never_contains_test_instances():
    c = cfg("data.per_task=1500")
    test = records_lib.test_keys("addition", "S", (1, 2))
    records = pipeline.mixed_records(c.data)
    # up to addition's symmetry too: no record is a test instance with its operands swapped
    keys = [canonical_key("addition", r["instance"]) for r in records]
    assert len(keys) > 100 and not test & set(keys)


def test_mixing_follows_the_weights_and_shuffles_by_seed():
    c = cfg("data.tasks={addition: 3, compare: 1}", "data.lengths={S: [2, 3]}")
    records = [r for r in pipeline.mixed_records(c.data)]
    counts = collections.Counter(r["task"] for r in records[:400])
    assert 2.5 < counts["addition"] / counts["compare"] < 3.5
    again = [r for r in pipeline.mixed_records(c.data)]
    other = [r for r in pipeline.mixed_records(cfg("data.tasks={addition: 3, compare: 1}",
                                                   "data.lengths={S: [2, 3]}",
                                                   "data.seed=1").data)]
    assert [r["prompt"] for r in records[:50]] == [r["prompt"] for r in again[:50]]
    assert [r["prompt"] for r in records[:50]] != [r["prompt"] for r in other[:50]]


def test_split_weights_mix_s_m_l():
    c = cfg("data.splits={S: 1, M: 1}", "data.lengths={S: [1, 2], M: [3, 4]}")
    records = [r for r in pipeline.mixed_records(c.data)][:200]
    counts = collections.Counter(r["split"] for r in records)
    assert abs(counts["S"] - counts["M"]) <= 20
    assert all(r["length"] <= 2 for r in records if r["split"] == "S")
    assert all(r["length"] >= 3 for r in records if r["split"] == "M")


def test_each_process_reads_a_disjoint_share():
    c = cfg()
    whole = [r["prompt"] for r in pipeline.mixed_records(c.data)]
    parts = [[r["prompt"] for r in pipeline.mixed_records(c.data, 1.0, i, 2)]
             for i in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(whole)
    assert parts[0][:5] != parts[1][:5]


def test_iterator_state_resumes_the_same_stream():
    c = cfg()
    ds, _ = pipeline.train_batches(c, TOK)
    it = iter(ds)
    next(it)
    state = it.get_state()
    expected = [next(it) for _ in range(2)]
    fresh = iter(pipeline.train_batches(c, TOK)[0])
    fresh.set_state(state)
    for want in expected:
        got = next(fresh)
        assert all(np.array_equal(got[k], want[k]) for k in want)


def test_unpacked_rows_are_padded_single_samples():
    ds, _ = pipeline.train_batches(cfg("data.pack=false"), TOK)
    batch = next(iter(ds))
    assert batch["segment_ids"].max() == 1
    for r in range(4):
        n = int((batch["segment_ids"][r] == 1).sum())
        assert batch["targets"][r, n - 1] == TOK.end_id
        assert np.array_equal(batch["positions"][r, :n], np.arange(n))


def test_jsonl_source(tmp_path):
    path = tmp_path / "train.jsonl"
    records_lib.write_records(records_lib.generate("addition", "S", 30, seed=5, variant="tail", lengths=(1, 2)),
                  str(path))
    c = cfg("data.source=jsonl", f"data.files=[{path}]", "data.pack=false")
    records = [r for r in pipeline.mixed_records(c.data)]
    assert len(records) == 30 and {r["task"] for r in records} == {"addition"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"task": "addition"}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1 lacks .*completion"):
        pipeline.mixed_records(cfg("data.source=jsonl", f"data.files=[{bad}]").data)
    with pytest.raises(ValueError, match="does not exist"):
        pipeline.mixed_records(cfg("data.source=jsonl", "data.files=[/nonexistent.jsonl]").data)
