"""Size, compile time and memory of the compiled decode program, from shapes only.

    python benchmarks/decode_compile.py --shape qwen2.5-0.5b --batch 1 --new 32768
    python benchmarks/decode_compile.py --shape qwen2.5-7b --batch 32 --new 32000 \
        --devices 8 --mesh data=2,tensor=4

Builds an abstract model (nothing allocated) of a preset shape in --dtype, lowers one
`Decoder.generate` call shape ahead of time (`Decoder.lower`) and compiles it for the CPU's
(virtual) devices, then prints: the lowered program's size (StableHLO lines and bytes), the
seconds to lower and to compile, and the compiled program's memory per device (arguments, of
which the KV cache and the weights; temporaries; peak) beside the plan of
`tailjax.plan.plan_decode`, and the ratio of the two.

--paths plain (the default) traces the program GPUs and TPUs run; --paths cpu the CPU fast paths
(model/speed.py), what a CPU eval compiles. Compile times are of XLA:CPU: a GPU's differ, but a
program several times smaller compiles several times faster on either.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="qwen2.5-0.5b", help="a model preset (tailjax PRESETS)")
    p.add_argument("--batch", type=int, default=1, help="rows decoded together")
    p.add_argument("--prompt", type=int, default=64, help="prompt tokens (the longest)")
    p.add_argument("--new", type=int, default=32768, help="max_new_tokens")
    p.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    p.add_argument("--devices", type=int, default=1, help="virtual CPU devices")
    p.add_argument("--mesh", default="", help="mesh axis sizes, e.g. data=2,tensor=4 "
                                              "(default: data over all devices)")
    p.add_argument("--paths", choices=("plain", "cpu"), default="plain",
                   help="plain: the GPU/TPU program; cpu: the CPU fast paths")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={args.devices}")
    from tailjax.decode import Decoder
    from tailjax.eval import _mesh_shape
    from tailjax.model import sharding
    from tailjax.model.qwen2 import abstract_model, preset

    cfg = preset(args.shape).replace(dtype=args.dtype)
    mesh_shape = _mesh_shape(args.mesh) if args.mesh else {"data": args.devices}
    mesh = sharding.make_mesh(mesh_shape)
    decoder = Decoder(abstract_model(cfg), mesh=mesh, fast_paths=args.paths == "cpu")
    start = time.perf_counter()
    lowered = decoder.lower(args.batch, args.prompt, args.new)
    text = lowered.as_text()
    lower_s = time.perf_counter() - start
    start = time.perf_counter()
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    mem = compiled.memory_analysis()
    gib = 1 << 30
    peak = (mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
            - mem.alias_size_in_bytes)
    print(f"decode {args.shape} {args.dtype}, batch {args.batch}, prompt {args.prompt}, "
          f"new {args.new}, mesh {dict(mesh.shape)}, {args.paths} paths")
    print(f"lowered   {text.count(chr(10)):>9} lines {len(text) / 1e6:8.2f} MB   "
          f"lower {lower_s:6.1f} s   compile {compile_s:6.1f} s")
    print(f"compiled  arguments {mem.argument_size_in_bytes / gib:7.2f} GiB   temporaries "
          f"{mem.temp_size_in_bytes / gib:7.2f} GiB   peak {peak / gib:7.2f} GiB per device")
    return 0


if __name__ == "__main__":
    sys.exit(main())
