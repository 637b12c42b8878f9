"""Every test runs on the CPU with 8 virtual devices, so sharding tests see a mesh of 8.

The flags must be set before jax is imported anywhere in the test process.
"""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_flag = "--xla_force_host_platform_device_count=8"
if _flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()
