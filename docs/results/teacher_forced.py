"""Teacher-forced error counts of a trained addition run (docs/results/length-generalization.md).

Feeds reference traces (tagged notation) of given operand lengths to a run's model and counts the
completion tokens whose argmax is wrong, grouped by their two preceding tokens (tags as T / t,
digits as d), and which context holds each trace's first error.

    python docs/results/teacher_forced.py runs/demo/checkpoints 6,7,9
"""

import collections
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np

from tailjax.model import load
from tailjax.tasks import synthesize
from tailjax.tokenizer import load_tokenizer


def context(tok, ids, j):
    kind = (tok.decode([ids[j - 2]]).strip()[-6:] + "|" + tok.decode([ids[j - 1]]).strip()[-6:])
    kind = re.sub(r"\b[A-Z]\b", "T", kind)
    return re.sub(r"\d", "d", re.sub(r"\b[a-z]\b", "t", kind))


def main(run: str, lengths: str, n: int = 40):
    model, tok = load(run), load_tokenizer("tail-bpe")
    forward = jax.jit(lambda m, ids: m(ids))
    for length in map(int, lengths.split(",")):
        wrong, total, first = collections.Counter(), collections.Counter(), collections.Counter()
        for i in range(n):
            r = synthesize("addition", "S", 99, i, "tail", (length, length), 0, "tagged", True)
            prompt, completion = tok.encode(r["prompt"]), tok.encode(r["completion"])
            ids = prompt + completion
            pred = np.asarray(jnp.argmax(forward(model, jnp.asarray([ids])), -1))[0]
            seen = False
            for j in range(len(prompt), len(ids)):
                kind = context(tok, ids, j)
                total[kind] += 1
                if pred[j - 1] != ids[j]:
                    wrong[kind] += 1
                    first[kind] += not seen
                    seen = True
        print(f"{length} digits, wrong by context: " + ", ".join(
            f"{k!r} {wrong[k]}/{total[k]}" for k, _ in wrong.most_common(8)))
        print("   first error of a trace: " + ", ".join(
            f"{k!r} {v}" for k, v in first.most_common(6) if v))


if __name__ == "__main__":
    main(*sys.argv[1:3])
