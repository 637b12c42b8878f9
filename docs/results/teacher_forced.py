"""Teacher-forced error counts of a trained addition run (docs/results/length-generalization.md).

Feeds reference traces (tagged notation) of given operand lengths to a run's model, with the
prompt mask training uses (`prompt_window` applies at the prompt's tokens), and counts the
completion tokens whose argmax is wrong, grouped by their two preceding tokens (tags as T / t,
digits as d); then which context and which line of the trace (0 = the first state) holds each
trace's first error.

    python docs/results/teacher_forced.py runs/demo/checkpoints 6,7,9 [n]

Runs 1-9 were diagnosed by an earlier version that fed no prompt mask (so `prompt_window` did
not apply); runs from 10 on use this one.
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
    forward = jax.jit(lambda m, ids, prompt: m(ids, prompt_mask=prompt))
    for length in map(int, lengths.split(",")):
        wrong, first, first_line = (collections.Counter() for _ in range(3))
        for i in range(n):
            r = synthesize("addition", "S", 99, i, "tail", (length, length), 0, "tagged", True)
            prompt, completion = tok.encode(r["prompt"]), tok.encode(r["completion"])
            ids = prompt + completion
            mask = jnp.asarray([[j < len(prompt) - 1 for j in range(len(ids))]])
            pred = np.asarray(jnp.argmax(forward(model, jnp.asarray([ids]), mask), -1))[0]
            seen = False
            for j in range(len(prompt), len(ids)):
                if pred[j - 1] != ids[j]:
                    kind = context(tok, ids, j)
                    wrong[kind] += 1
                    if not seen:
                        first[kind] += 1
                        first_line[tok.decode(ids[len(prompt):j]).count("\n")] += 1
                    seen = True
        print(f"{length} digits: {sum(first.values())}/{n} traces hold an error; wrong tokens "
              "by context: " + ", ".join(f"{k!r} {v}" for k, v in wrong.most_common(6)))
        print("   first error's context: " + ", ".join(f"{k!r} {v}" for k, v in first.most_common(6)))
        print("   first error's line: " + ", ".join(f"{k}: {v}" for k, v in sorted(first_line.items())))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:]))
