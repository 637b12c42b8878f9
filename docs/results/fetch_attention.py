"""Where the fetch looks: the attention of the last layer's global heads at a fetch, by the
letter distance from the fetched tag to each tag of the same operand.

    python docs/results/fetch_attention.py RUN LENGTH [N]

For the first N (default 30) eval samples of LENGTH digits in RUN/eval/samples.jsonl, the model
in RUN/checkpoints reads the prompt and its own output up to the tag of a fetch ("x1=K") in the
first column (the units) and in the last digit column (the top place), and the attention of the
last layer's global (no-position) heads at that token is summed per prompt tag of the fetched
operand, by the tag's distance in letters from the fetched one (around the circle A..Z). A
lookup by tag puts its mass at +0; mass at other distances is what a wrong fetch copies. Uses
the materialized attention of the training forward (the CPU's xla backend). Runs 21 and 25-26
(docs/results/length-generalization.md).
"""
import json
import re
import sys
from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np

from tailjax.model import attention, load
from tailjax.tokenizer import load_tokenizer

run, length = sys.argv[1], int(sys.argv[2])
n_samples = int(sys.argv[3]) if len(sys.argv) > 3 else 30
model = load(run + "/checkpoints", scan_layers=False)
cfg = model.config
tokenizer = load_tokenizer("tail-bpe")
last_query = []  # per layer: [kv_heads, group, keys] at the last query
kernel = attention.materialized_attention


def recording(q, k, v, mask):
    b, t, heads, hd = q.shape
    scores = jnp.einsum("btkgd,bskd->bkgts", q.reshape(b, t, k.shape[2], -1, hd), k) * hd ** -0.5
    scores = jnp.where((mask if mask.ndim == 4 else mask[:, None])[:, :, None], scores, -1e30)
    last_query.append(np.asarray(jax.nn.softmax(scores, -1)[0, :, :, -1]))
    return kernel(q, k, v, mask)


attention.materialized_attention = recording
global_heads = [h for h, local in enumerate(cfg.local_kv_heads) if not local]
mass, count = defaultdict(float), defaultdict(int)
samples = [s for s in map(json.loads, open(run + "/eval/samples.jsonl")) if s["length"] == length]
for s in samples[:n_samples]:
    prompt_ids = tokenizer.encode(s["prompt"])
    texts = [tokenizer.decode([i]) for i in prompt_ids]
    plus = texts.index(" + ")
    columns = [l for l in s["output"].split("\n") if l.startswith("add the digits at place")]
    for where, line in (("units", columns[0]), ("top", columns[length - 1] if
                                                len(columns) >= length else None)):
        if line is None:
            continue
        for operand in ("x1", "x2"):
            tag = re.search(rf"{operand}=(\w)", line)[1]
            cut = s["output"].index(line) + line.index(f"{operand}={tag}") + len(operand) + 2
            ids = prompt_ids + tokenizer.encode(s["output"][:cut])
            prompt = jnp.asarray([[i < len(prompt_ids) - 1 for i in range(len(ids))]])
            last_query.clear()
            model(jnp.asarray([ids]), prompt_mask=prompt)
            weights = last_query[-1][global_heads].mean((0, 1))
            for i, text in enumerate(texts):
                own = (i < plus) == (operand == "x1")
                # a tag: a letter right after a digit or the blank cell
                if own and len(text) == 1 and text.isalpha() and texts[i - 1] in "0123456789_":
                    distance = (ord(text.upper()) - ord(tag.upper()) + 12) % 26 - 12
                    key = (where, "blank" if texts[i - 1] == "_" else "digit", distance)
                    mass[key] += float(weights[i])
                    count[key] += 1
print(f"{run}: {length} digits, {min(n_samples, len(samples))} samples, last layer, "
      f"global kv heads {global_heads}")
print("fetch at | cell | distance | mean attention")
for key in sorted(mass):
    print(f"{key[0]} | {key[1]} | {key[2]:+d} | {mass[key] / count[key]:.3f}")
