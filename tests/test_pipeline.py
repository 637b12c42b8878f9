"""The grain pipeline: masking, dropping (never truncating), packing, mixing, sharding, state,
and resumed traces (data.resumed)."""

import collections
import json
import re

import numpy as np
import pytest

from task_checks import CELL, cells_value, letter, operand, tape
from tailjax.config import load_config
from tailjax.data import pipeline
from tailjax.data import records as records_lib
from tailjax.tasks import canonical_key, synthesize
from tailjax.tasks.simulation.addition import resume_tail, tail_columns
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


TAGGED = ("data.notation=tagged", "data.integer=true", "data.template=0",
          "data.lengths={S: [2, 6]}")
SUMMARY = re.compile(r"resume at place ([A-Z]): the sum so far is ((?:\d[A-Z])+), carry=([01]) ; "
                     r"-> add the digits at place \1")


def tagged_records(n: int) -> list[dict]:
    return [synthesize("addition", "S", 0, i, "tail", (2, 6), 0, "tagged", True)
            for i in range(n)]


def test_resumed_records_continue_a_correct_trace():
    """Resumed after each possible number of columns: the context's sum so far and carry are
    those of the operands read from the prompt, the rest is the trace from that place on, and
    the sum so far with the rest's tape is the whole sum."""
    for r in tagged_records(60):
        x1, x2 = (operand(f) for f in re.fullmatch(r"What is (\S+) \+ (\S+)\?",
                                                   r["prompt"]).groups())
        a, b, units, n = x1["value"], x2["value"], x1["units"], r["length"]
        lines = r["completion"].split("\n")
        assert len(tail_columns(r["completion"])) == n
        for done in range(1, n + 1):
            context, rest = resume_tail(r["completion"], done)
            first, summary, end = context.split("\n")
            assert first == lines[0] and end == ""
            place, so_far, carry = SUMMARY.fullmatch(summary).groups()
            assert place == letter(units, done)
            pairs = CELL.findall(so_far)
            assert [t for _, t in pairs] == [letter(units, p) for p in range(done - 1, -1, -1)]
            assert int("".join(d for d, _ in pairs)) == (a + b) % 10 ** done
            assert int(carry) == (a % 10 ** done + b % 10 ** done) // 10 ** done
            assert rest == "\n".join(lines[1 + done:])
            assert rest.startswith(f"add the digits at place {place}: x1={place}")
            assert rest.split(" ; ")[0].endswith(f"carry={carry}")
            assert cells_value({**{t: d for d, t in pairs}, **tape(rest)}, units) == a + b
        for bad in (0, n + 1):
            with pytest.raises(ValueError, match="cannot resume after"):
                resume_tail(r["completion"], bad)
    plain = synthesize("addition", "S", 0, 0, "tail", (2, 6))["completion"]
    with pytest.raises(ValueError, match="not a tagged `tail` addition completion"):
        resume_tail(plain, 1)


def test_resumed_context_weighs_1e_6_and_is_drawn_per_record():
    records = tagged_records(300)
    encoder, whole = pipeline.Encoder(TOK, 4000, resumed=0.5), pipeline.Encoder(TOK, 4000)
    depths = collections.defaultdict(set)
    for r in records:
        sample = encoder(r)
        context, completion = pipeline.resumed(r, 0.5)
        if not context:
            assert completion == r["completion"]
            assert all(np.array_equal(sample[k], whole(r)[k]) for k in sample)
            continue
        depths[r["length"]].add(len(CELL.findall(SUMMARY.search(context)[2])))
        prompt, ctx = TOK.encode(r["prompt"]), TOK.encode(context)
        rest = TOK.encode(completion) + [TOK.end_id]
        assert sample["inputs"].tolist() == (prompt + ctx + rest)[:-1]
        mask, at = sample["loss_mask"], len(prompt) - 1
        assert mask[:at].sum() == 0 and mask.dtype == np.float32
        assert np.all(mask[at:at + len(ctx)] == np.float32(pipeline.CONTEXT_WEIGHT))
        assert pipeline.CONTEXT_WEIGHT == 1e-6 and np.all(mask[at + len(ctx):] == 1)
        assert sample["targets"][at + len(ctx):].tolist() == rest
    assert 120 <= sum(bool(pipeline.resumed(r, 0.5)[0]) for r in records) <= 180
    assert set(depths) == set(range(2, 7))
    assert all(depths[n] == set(range(1, n + 1)) for n in depths)  # the blank column too
    # deterministic per record: a fresh encoder, the records in another order
    again = pipeline.Encoder(TOK, 4000, resumed=0.5)
    for r in reversed(records):
        assert all(np.array_equal(again(r)[k], encoder(r)[k]) for k in ("inputs", "loss_mask"))
    assert all(pipeline.resumed(r, 1.0)[0] for r in records[:50])


def test_resumed_draws_are_those_the_demo_trained_on():
    """Records 0-15 of the demo's stream (seed 0) are resumed after these many columns (0:
    whole), as run 27 drew them (the rule of docs/results/patches/run18-resumed-loops.diff on
    run 27's records): a change here changes the demo's training data."""
    drawn = [len(CELL.findall(SUMMARY.search(c)[2])) if c else 0
             for c, _ in (pipeline.resumed(r, 0.5) for r in tagged_records(16))]
    assert drawn == [3, 6, 0, 2, 0, 0, 0, 0, 2, 3, 2, 0, 0, 0, 2, 0]


class WholeEncoder:
    """The Encoder as it was before data.resumed: prompt + completion + end token, the loss on
    the completion and the end token."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer, self.max_length, self.dropped = tokenizer, max_length, 0

    def __call__(self, record: dict):
        prompt = self.tokenizer.encode(record["prompt"])
        ids = np.asarray(prompt + self.tokenizer.encode(record["completion"]) +
                         [self.tokenizer.end_ids[0]], np.int32)
        if len(ids) - 1 > self.max_length:
            return None
        mask = np.zeros(len(ids) - 1, np.float32)
        mask[len(prompt) - 1:] = 1.0
        return {"inputs": ids[:-1], "targets": ids[1:], "loss_mask": mask}


@pytest.mark.parametrize("notation", [(), TAGGED])
def test_resumed_0_leaves_the_batches_bit_identical(notation):
    """data.resumed 0 (the default) gives the batches of the pipeline before the option (the
    same records through WholeEncoder); 0.5 changes them."""
    def first_batches(c, encoder):
        ds = pipeline.batches(pipeline.mixed_records(c.data), encoder, 4, seed=c.data.seed)
        return [b for b, _ in zip(ds, range(3))]

    c = cfg("data.max_length=512", *notation)
    assert c.data.resumed == 0
    want = first_batches(c, WholeEncoder(TOK, 512))
    got = [b for b, _ in zip(pipeline.train_batches(c, TOK)[0], range(3))]
    assert all(np.array_equal(g[k], w[k]) for g, w in zip(got, want) for k in w)
    if notation:
        other = first_batches(c, pipeline.Encoder(TOK, 512, resumed=0.5))
        assert not all(np.array_equal(o["inputs"], w["inputs"]) for o, w in zip(other, want))
