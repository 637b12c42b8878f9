"""`python -m tailjax.plan`: the memory of the compiled step and the throughput arithmetic
beside it (tokens, model FLOPs, the step time a chip's peak allows), checked by hand on the
tiny preset."""

import pytest

from tailjax import plan as plan_lib
from tailjax.config import load_config
from tailjax.metrics import PEAK_TFLOPS

# The tiny preset (vocab 128, d 256, MLP 704, 4 layers, 8 heads of 32, 2 kv heads, tied):
# per layer 2 norms (2 x 256) + q, o (2 x 256 x 8 x 32) + k, v (2 x 256 x 2 x 32) + biases
# (8 x 32 + 2 x 2 x 32) + gate, up, down (3 x 256 x 704) = 705,408; 4 layers, the embedding
# (128 x 256, the tied head too) and the final norm (256) make N = 2,854,656.
TINY_N = 4 * (2 * 256 + 2 * 256 * 8 * 32 + 2 * 256 * 2 * 32 + 8 * 32 + 2 * 2 * 32
              + 3 * 256 * 704) + 128 * 256 + 256
T = 128
TINY_FLOPS_PER_TOKEN = 6 * TINY_N + 12 * 4 * T * (8 * 32)  # 18,700,800


def tiny_config(tmp_path, *overrides):
    path = tmp_path / "tiny.yaml"
    path.write_text("model: {preset: tiny, tokenizer: char, dtype: bfloat16}\n"
                    "data: {tasks: {compare: 1}, lengths: {S: [1, 2]}, variant: direct}\n")
    return str(path), [f"data.max_length={T}", "train.batch_size=8", *overrides]


def test_tiny_flops_per_token_by_hand():
    assert TINY_N == 2_854_656 and TINY_FLOPS_PER_TOKEN == 18_700_800
    cfg = load_config(None, ["model.preset=tiny", f"data.max_length={T}"])
    tp = plan_lib.throughput(cfg, devices=8, sample=0)
    assert tp.matmul_params == TINY_N and tp.flops_per_token == TINY_FLOPS_PER_TOKEN


def test_7b_flops_per_token_leave_out_the_input_embedding():
    cfg = load_config(None, ["model.preset=qwen2.5-7b", "data.max_length=4096"])
    tp = plan_lib.throughput(cfg, devices=8, sample=0)
    # 7,615,616,512 parameters less the untied input embedding (152064 x 3584): a lookup.
    assert tp.matmul_params == 7_615_616_512 - 152_064 * 3584
    assert tp.flops_per_token == 6 * tp.matmul_params + 12 * 28 * 4096 * 28 * 128


def test_plan_prints_memory_tokens_flops_and_the_step_time_a_chip_allows(tmp_path, capsys):
    path, overrides = tiny_config(tmp_path, "train.loss_chunk=16", "model.remat=full")
    args = ["--config", path, "--devices", "8", "--chip", "h100", "--sample", "0",
            "--step-seconds", "0.001"]
    assert plan_lib.main(args + [a for o in overrides for a in ("--set", o)]) == 0
    out = capsys.readouterr().out
    assert "batch 8 rows x 128 tokens in 1 micro-batches; remat full; loss in chunks of 16" in out
    assert "  peak  " in out and " GiB" in out
    assert "tokens per step        1,024 = 8 rows x 128 (packed: rows filled to about 95%)" in out
    assert "real tokens per step   ~973 (95%)" in out
    assert "model FLOPs per token  1.87e+07 = 6 N + 12 L T (heads x head_dim)" in out
    assert "= 6 x 2,854,656 + 12 x 4 x 128 x 256" in out
    flops = TINY_FLOPS_PER_TOKEN * 1024 * 0.95
    assert f"model FLOPs per step   {flops:.4g} on the real tokens" in out
    peak = 989e12 * 8
    assert PEAK_TFLOPS["NVIDIA H100"] == 989.0
    assert f"{flops / peak:.3g} s at 100% MFU, {2 * flops / peak:.3g} s at 50% MFU" in out
    assert f"MFU                    {flops / (0.001 * peak):.1%} for the 0.001 s step" in out
    assert "remat full recomputes every layer's forward" in out


def test_unpacked_rows_count_one_sample_each_and_sample_the_padding(tmp_path):
    path, overrides = tiny_config(tmp_path, "data.pack=false")
    cfg = load_config(path, overrides)
    tp = plan_lib.throughput(cfg, devices=8, chip="v5p", sample=8)
    assert tp.samples_per_step == 8 and tp.peak_tflops == 459.0
    assert 0 < tp.real_fraction < 1 and tp.real_tokens == 1024 * tp.real_fraction
    assert tp.mean_sample == pytest.approx(T * tp.real_fraction)
    lines = "\n".join(tp.describe())
    assert "unpacked: one sample per row" in lines and "sampled records fit" in lines


def test_a_missing_tokenizer_or_chip_is_reported(tmp_path, capsys):
    path, overrides = tiny_config(tmp_path, "data.pack=false", "model.tokenizer=/nonexistent")
    tp = plan_lib.throughput(load_config(path, overrides), devices=8)
    assert tp.real_fraction is None and "tokenizer /nonexistent not loadable" in tp.real_source
    assert "MFU: name the chip with --chip" in "\n".join(tp.describe())
    with pytest.raises(ValueError, match="unknown chip 'tpu9'"):
        plan_lib.throughput(load_config(path, overrides), devices=8, chip="tpu9")
    with pytest.raises(SystemExit):
        plan_lib.main(["--config", path, "--devices", "8", "--chip", "tpu9"])
    assert "invalid choice: 'tpu9'" in capsys.readouterr().err
