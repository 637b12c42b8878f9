"""Training: sharding-invariant losses, exact gradient accumulation, masking, packing, and runs
that survive SIGKILL, SIGTERM and NaNs.

Shapes are tiny (a 2-layer, 32-wide Qwen2 on 128-token rows of short compare records) so the
file stays fast; a persistent compilation cache lets the whole-run tests share compiled steps.
"""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tailjax import host, metrics, train_state
from tailjax import step as step_lib
from tailjax import train as train_lib
from tailjax.config import load_config
from tailjax.data import pipeline
from tailjax.host import make_global_batch
from tailjax.model import create, params_of, sharding
from tailjax.model.qwen2 import param_shardings
from tailjax.tokenizer import load_tokenizer

TOK = load_tokenizer("char")


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
    """Compiled steps shared by this module's runs (in-process and subprocesses)."""
    path = str(tmp_path_factory.mktemp("jax_cache"))
    old = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", path)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = path
    yield
    jax.config.update("jax_compilation_cache_dir", old)
    os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
MICRO = ("model.overrides={hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, "
         "num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8}")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config(out_dir="", *overrides):
    return load_config(None, [
        MICRO, "model.dtype=float32", "data.tasks={compare: 1}", "data.variant=direct",
        "data.lengths={S: [1, 2]}", "data.max_length=128", "data.per_task=2000",
        "train.batch_size=8", "train.lr=3e-3", "train.warmup_steps=2", "train.log_every=1",
        "eval.at_end=false", f"train.out_dir={out_dir}", *overrides])


def host_batches(cfg, n):
    ds, _ = pipeline.train_batches(cfg, TOK)
    it = iter(ds)
    return [next(it) for _ in range(n)]


def run_steps(cfg, mesh, batches, micro_batches=1):
    """Losses and final params of len(batches) optimizer steps on `mesh`."""
    model_cfg, _ = train_state.model_config(cfg)
    tx, _ = step_lib.make_optimizer(cfg.train, 10)
    graphdef, abstract = train_state.split_model(model_cfg)
    p_sh = param_shardings(model_cfg, mesh)
    o_sh = step_lib.opt_shardings(tx, abstract, p_sh, mesh)
    params = params_of(create(model_cfg, 0, mesh))
    opt_state = jax.jit(tx.init, out_shardings=o_sh)(params)
    step = jax.jit(step_lib.make_train_step(graphdef, tx, micro_batches),
                   in_shardings=(p_sh, o_sh, sharding.batch_sharding(mesh, 2)))
    losses = []
    with jax.set_mesh(mesh):
        for b in batches:
            params, opt_state, metrics = step(params, opt_state, make_global_batch(b, sharding.batch_sharding(mesh, 2)))
            losses.append(float(metrics["loss"]))
    return losses, jax.device_get(params)


def test_2x4_mesh_gives_the_losses_of_one_device():
    cfg = config()
    batches = host_batches(cfg, 3)
    one, p_one = run_steps(cfg, sharding.make_mesh({"data": 1}, jax.devices()[:1]), batches)
    eight, p_eight = run_steps(cfg, sharding.make_mesh({"fsdp": 2, "tensor": 4}), batches)
    # Only the order of float32 reductions differs between the layouts.
    np.testing.assert_allclose(eight, one, rtol=2e-5)
    assert one[-1] < one[0]
    for a, b in zip(jax.tree.leaves(p_one), jax.tree.leaves(p_eight)):
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_four_micro_batches_equal_one_batch_of_four_times_the_rows():
    cfg = config()
    batch = host_batches(cfg, 1)[0]
    # Rows hold different numbers of loss tokens, so averaging per-micro-batch means would differ.
    assert len({int(m.sum()) for m in batch["loss_mask"]}) > 1
    mesh = sharding.make_mesh({"data": 2}, jax.devices()[:2])
    whole, p_whole = run_steps(cfg, mesh, [batch], micro_batches=1)
    micro, p_micro = run_steps(cfg, mesh, [batch], micro_batches=4)
    np.testing.assert_allclose(micro, whole, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(p_whole), jax.tree.leaves(p_micro)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def _decayed_names(params, tx):
    """Names of the parameters that one AdamW step with zero gradients moves (weight decay)."""
    opt_state = tx.init(params)
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), opt_state, params)
    return {"/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
            for path, u in jax.tree_util.tree_flatten_with_path(updates)[0]
            if np.any(np.asarray(u) != 0)}


def test_weight_decay_spares_norms_and_biases_in_stacked_and_per_layer_layouts():
    cfg = config("", "train.weight_decay=0.1", "train.warmup_steps=0")
    model_cfg, _ = train_state.model_config(cfg)
    tx, _ = step_lib.make_optimizer(cfg.train, 10)
    # Every parameter nonzero, so decay would move each one.
    stacked = jax.tree.map(jnp.ones_like, params_of(create(model_cfg, 0)))
    weights = {"embed", "layers/q", "layers/k", "layers/v", "layers/o", "layers/gate",
               "layers/up", "layers/down"}
    assert _decayed_names(stacked, tx) == weights
    per_layer = dict(stacked, layers=[jax.tree.map(lambda x: x[i], stacked["layers"])
                                      for i in range(model_cfg.num_hidden_layers)])
    assert _decayed_names(per_layer, tx) == {
        w.replace("layers/", f"layers/{i}/") for w in weights if w != "embed"
        for i in range(model_cfg.num_hidden_layers)} | {"embed"}


def _loss_and_grads(cfg, batch):
    model_cfg, _ = train_state.model_config(cfg)
    graphdef, _ = train_state.split_model(model_cfg)
    params = params_of(create(model_cfg, 0))
    fn = jax.jit(jax.value_and_grad(lambda p, b: step_lib.loss_sums(graphdef, p, b)[0]))
    return fn(params, {k: jnp.asarray(v) for k, v in batch.items()})


def test_prompt_tokens_contribute_nothing_to_the_loss():
    cfg = config()
    batch = host_batches(cfg, 1)[0]
    loss, grads = _loss_and_grads(cfg, batch)
    changed = dict(batch)
    rng = np.random.default_rng(0)
    noise = rng.integers(2, 98, batch["targets"].shape, dtype=np.int32)
    changed["targets"] = np.where(batch["loss_mask"] == 0, noise, batch["targets"])
    assert (changed["targets"] != batch["targets"]).sum() > 50  # prompts and padding changed
    loss2, grads2 = _loss_and_grads(cfg, changed)
    assert float(loss2) == float(loss)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(grads),
                                                    jax.tree.leaves(grads2)))


def test_packed_samples_do_not_attend_to_each_other():
    cfg = config()
    model_cfg, _ = train_state.model_config(cfg)
    model = create(model_cfg, 0)
    row = next(r for r in (dict(zip(b, v)) for b in host_batches(cfg, 2)
                           for v in zip(*[b[k] for k in b])) if r["segment_ids"].max() >= 2)
    seg = row["segment_ids"]
    second = seg == 2
    packed = model(row["inputs"][None], row["positions"][None], seg[None])[0]
    alone = model(row["inputs"][second][None])[0]
    np.testing.assert_allclose(packed[second], alone, atol=1e-5)
    # Changing the first sample's tokens leaves the second sample's logits as they were.
    other = row["inputs"].copy()
    other[seg == 1] = 5
    repacked = model(other[None], row["positions"][None], seg[None])[0]
    np.testing.assert_allclose(repacked[second], packed[second], atol=1e-6)


# ---- whole runs ---------------------------------------------------------------------------------

RUN = ["train.steps=12", "checkpoint.every=3", "checkpoint.keep=2"]


def _write_config(tmp_path, name):
    out = tmp_path / name
    path = tmp_path / f"{name}.yaml"
    cfg = config(str(out), *RUN)
    import yaml

    from tailjax.config import to_dict
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return str(path), str(out)


def _losses(out_dir):
    return [r["loss"] for r in metrics.read_log(os.path.join(out_dir, metrics.LOG_FILE))
            if "loss" in r]


def _start(path):
    return subprocess.Popen([sys.executable, "-m", "tailjax.train", "--config", path,
                             "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc, timeout=240):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()[1][-2000:]}")
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """The run directory of an uninterrupted run of the same config."""
    tmp = tmp_path_factory.mktemp("reference")
    path, out = _write_config(tmp, "ref")
    _run_to_end(path)
    assert len(_losses(out)) == 12
    return out


def _run_to_end(path):
    """Train in a fresh process, as the interrupted runs do: the pytest process's JAX state,
    which earlier tests change, then plays no part in what is compared."""
    done = subprocess.run([sys.executable, "-m", "tailjax.train", "--config", path,
                           "--no-progress"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def reference(reference_run):
    """Per-step losses of an uninterrupted run of the same config."""
    return _losses(reference_run)


def _final_params(run_dir):
    from flax import nnx

    from tailjax.model import load

    return jax.tree.leaves(nnx.state(load(os.path.join(run_dir, "checkpoints")), nnx.Param))


def test_sigkill_then_resume_repeats_the_run_bitwise(tmp_path, reference, reference_run):
    path, out = _write_config(tmp_path, "killed")
    ckpt = os.path.join(out, "checkpoints", "3", "commit_success.txt")
    proc = _start(path)
    _wait_for(lambda: os.path.exists(ckpt), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = len(_losses(out))
    assert killed_at < 12
    _run_to_end(path)
    losses = _losses(out)
    assert len(losses) == 12
    # bitwise: the same params, optimizer state and data order at every step give the same
    # final parameters (and losses, kept to 1e-6 in case a cross-device sum's last bit moves).
    for resumed, ref in zip(_final_params(out), _final_params(reference_run)):
        np.testing.assert_array_equal(resumed, ref)
    np.testing.assert_allclose(losses, reference, rtol=1e-6, atol=0)


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path, reference, reference_run):
    path, out = _write_config(tmp_path, "term")
    proc = _start(path)
    _wait_for(lambda: os.path.exists(os.path.join(out, metrics.LOG_FILE)) and
              len(_losses(out)) >= 2, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    stopped = len(_losses(out))
    assert stopped < 12 and f"SIGTERM: saved step {stopped}" in err
    from tailjax.checkpoint import Checkpoints

    assert Checkpoints(os.path.join(out, "checkpoints"), 3, 2).latest_step() == stopped
    _run_to_end(path)  # and it resumes from there
    assert len(_losses(out)) == 12
    for resumed, ref in zip(_final_params(out), _final_params(reference_run)):
        np.testing.assert_array_equal(resumed, ref)  # bitwise (see the SIGKILL test)
    np.testing.assert_allclose(_losses(out), reference, rtol=1e-6, atol=0)


def test_nan_in_the_batch_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = config(str(tmp_path / "nan"), "train.steps=6", "checkpoint.every=1")
    encode = pipeline.Encoder.__call__
    calls = {"n": 0}

    def poisoned(self, record):
        sample = encode(self, record)
        calls["n"] += 1
        if sample is not None and calls["n"] == 40:  # a sample in the third or fourth batch
            sample["loss_mask"] = sample["loss_mask"] * np.float32("nan")
        return sample

    monkeypatch.setattr(pipeline.Encoder, "__call__", poisoned)
    with pytest.raises(train_lib.NonFiniteLoss) as e:
        train_lib.train(cfg, progress=False)
    message = str(e.value)
    bad = len(_losses(cfg.train.out_dir)) + 1
    assert f"non-finite loss at step {bad}" in message
    assert f"the latest checkpoint is step {bad - 1}" in message
    from tailjax.checkpoint import Checkpoints

    assert Checkpoints(os.path.join(cfg.train.out_dir, "checkpoints"), 1, 3).latest_step() == \
        bad - 1


def test_cli_config_errors_exit_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  stpes: 3\n")
    assert train_lib.main(["--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown config key 'train.stpes'")


def test_config_cpu_devices_replace_an_inherited_host_device_count(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8 --xla_dump_to=/x")
    host.use_cpu_devices(2)
    flags = os.environ["XLA_FLAGS"].split()
    assert "--xla_force_host_platform_device_count=2" in flags and "--xla_dump_to=/x" in flags
    assert not any(f.endswith("=8") for f in flags)
    assert "--xla_cpu_multi_thread_eigen=false" in flags
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
    host.use_cpu_devices(0)  # 0 leaves XLA_FLAGS alone
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=8"


def test_rows_that_do_not_split_name_the_inherited_device_count(tmp_path):
    # This process has the 8 devices of XLA_FLAGS (conftest), which the message names.
    with pytest.raises(ValueError, match=r"4 rows per micro-batch do not split over 8 data shards "
                       r"\(the 8 CPU devices come from XLA_FLAGS' "
                       r"--xla_force_host_platform_device_count=8: unset it"):
        train_lib.train(config(str(tmp_path / "r"), "train.batch_size=4"), progress=False)


def test_trained_run_is_loadable_by_the_model_loader(tmp_path, caplog):
    from tailjax import model as model_lib

    cfg = config(str(tmp_path / "load"), "train.steps=2", "checkpoint.every=0")
    train_lib.train(cfg, progress=False)
    caplog.clear()
    with caplog.at_level("WARNING"):
        model = model_lib.load(os.path.join(cfg.train.out_dir, "checkpoints"))
    assert not [r.getMessage() for r in caplog.records], "loading a run is not quiet"
    assert isinstance(model, nnx.Module) and model.config.hidden_size == 32
    with open(os.path.join(cfg.train.out_dir, "checkpoints", "model_config.json")) as f:
        assert json.load(f)["tokenizer"] == "char"
    assert os.path.exists(os.path.join(cfg.train.out_dir, metrics.LOSS_PLOT))


def _truncate_arrays(step_dir):
    """Cut every array data file of a saved step in half, as a crash mid-write would."""
    for root, _, files in os.walk(step_dir):
        if os.path.basename(root) == "d":
            for name in files:
                path = os.path.join(root, name)
                os.truncate(path, os.path.getsize(path) // 2)


def test_unreadable_latest_step_is_rewritten_by_a_rerun_and_skipped_by_loading(tmp_path, capsys):
    from tailjax import convert
    from tailjax import model as model_lib
    from tailjax.checkpoint import Checkpoints

    cfg = config(str(tmp_path / "run"), "train.steps=3", "checkpoint.every=1")
    train_lib.train(cfg, progress=False)
    ckpt_dir = os.path.join(cfg.train.out_dir, "checkpoints")
    good = model_lib.load(ckpt_dir)
    _truncate_arrays(os.path.join(ckpt_dir, "3"))
    with pytest.warns(UserWarning, match="checkpoint step 3 .* cannot be read"):
        result = train_lib.train(cfg, progress=False)  # resumes from step 2, redoes step 3
    assert result.steps == 3
    # The rerun wrote step 3 again: it is the latest and it reads, with the same weights.
    assert Checkpoints(ckpt_dir, 1, 3).latest_step() == 3
    rerun = model_lib.load(ckpt_dir)
    for a, b in zip(jax.tree.leaves(params_of(good)), jax.tree.leaves(params_of(rerun))):
        np.testing.assert_array_equal(a, b)

    # Loading skips an unreadable latest step with a warning, as training does.
    _truncate_arrays(os.path.join(ckpt_dir, "3"))
    with pytest.warns(UserWarning, match="3/params cannot be read .* loading the step before"):
        model_lib.load(ckpt_dir)
    with pytest.warns(UserWarning, match="3/params cannot be read"):
        assert convert.main(["--to-hf", ckpt_dir, "--out", str(tmp_path / "hf")]) == 0
    assert os.path.exists(tmp_path / "hf" / "config.json")
    # When no step reads: one error line, and no half-written export left behind.
    for step in ("1", "2"):
        _truncate_arrays(os.path.join(ckpt_dir, step))
    capsys.readouterr()
    with pytest.warns(UserWarning):
        assert convert.main(["--to-hf", ckpt_dir, "--out", str(tmp_path / "hf2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no step of the run") and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "hf2") or not os.listdir(tmp_path / "hf2")


def test_a_rerun_removes_what_an_interrupted_save_left_behind(tmp_path):
    cfg = config(str(tmp_path / "tmp"), "train.steps=1", "checkpoint.every=0")
    train_lib.train(cfg, progress=False)
    leftover = os.path.join(cfg.train.out_dir, "checkpoints", "7.orbax-checkpoint-tmp-1234")
    os.makedirs(os.path.join(leftover, "params"))
    train_lib.train(cfg, progress=False)  # the run is done: it only resumes and stops
    assert not os.path.exists(leftover)
    assert sorted(os.listdir(os.path.join(cfg.train.out_dir, "checkpoints"))) == \
        ["1", "model_config.json"]


def test_huge_page_restart_keeps_pid_arguments_and_tunables_and_happens_once():
    """A CPU run re-execs itself once with glibc's huge-page malloc (tailjax.malloc): same pid,
    same arguments, other tunables kept, and no second restart."""
    from tailjax import malloc

    code = ("import os, sys; from tailjax import malloc; "
            "print(os.getpid(), sys.argv[1:], os.environ.get('GLIBC_TUNABLES'), flush=True); "
            "malloc.restart_with_huge_pages()")
    env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.arena_max=4")
    lines = subprocess.run([sys.executable, "-c", code, "a b", "c"], env=env, cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    first = lines[0].split(" ", 1)[0] + " ['a b', 'c'] glibc.malloc.arena_max=4"
    if not malloc._huge_pages_help():  # not glibc >= 2.35 with THP: nothing to do
        assert lines == [first]
        return
    assert lines == [first, first + ":" + malloc.HUGE_PAGES]
