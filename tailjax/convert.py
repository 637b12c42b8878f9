"""`python -m tailjax.convert`: Hugging Face Qwen2 directory <-> tailjax model checkpoint.

  --from-hf DIR --out CKPT   config.json + *.safetensors -> CKPT/model_config.json + CKPT/params/
  --to-hf CKPT --out DIR     any checkpoint tailjax.model.load reads -> safetensors + config.json
                             (+ the tokenizer files, when the checkpoint records their directory)
"""

from __future__ import annotations

import argparse
import os
import sys


def from_hf(src: str, out: str, dtype: str | None = None) -> None:
    from tailjax.model.loading import checkpoint_tokenizer, load, save

    if os.path.isdir(out) and os.listdir(out):
        raise ValueError(f"{out} exists and is not empty; convert into a new directory")
    if not os.path.exists(os.path.join(src, "config.json")):
        raise ValueError(f"{src} has no config.json; --from-hf needs a Hugging Face model "
                         "directory (config.json + *.safetensors)")
    model = load(src, dtype=dtype)
    tokenizer = checkpoint_tokenizer(src)
    save(model, out, tokenizer=os.path.abspath(tokenizer) if tokenizer else None)


def to_hf(src: str, out: str, dtype: str | None = None, tokenizer: str | None = None) -> None:
    from tailjax.model.loading import checkpoint_tokenizer, export_hf

    export_hf(src, out, dtype, tokenizer or checkpoint_tokenizer(src))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tailjax.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-hf", metavar="DIR", help="a Hugging Face Qwen2 model directory")
    source.add_argument("--to-hf", metavar="CKPT", help="a tailjax checkpoint (or training run)")
    parser.add_argument("--out", required=True, help="the directory to write (new or empty)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                        help="parameter dtype to write (default: as stored)")
    parser.add_argument("--tokenizer", metavar="DIR",
                        help="--to-hf: copy the tokenizer files from DIR (default: the directory "
                             "the checkpoint records)")
    args = parser.parse_args(argv)
    try:
        if args.from_hf:
            if args.tokenizer:
                raise ValueError("--tokenizer only applies to --to-hf")
            from_hf(args.from_hf, args.out, args.dtype)
        else:
            to_hf(args.to_hf, args.out, args.dtype, args.tokenizer)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    from tailjax import malloc

    malloc.one_arena()  # before jax and tensorstore start threads: see tailjax.malloc
    sys.exit(main())
