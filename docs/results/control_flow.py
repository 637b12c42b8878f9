"""Control flow and fetches of an addition run's eval samples (docs/results/length-generalization.md).

Reads RUN/eval/samples.jsonl (tagged notation) and prints per operand length: the share of
samples whose trace visits exactly the operand's places from the units up (the "add the digits
at place X:" lines) before it reads the sum, and the share of x1 fetches ("x1=X7") that return
the digit the prompt gives place X. ORDER says how the prompt lists x1's places: big (top first,
the default notation), little (units first), or letters (consecutive letters, any order).

    python docs/results/control_flow.py runs/demo big
"""

import collections
import json
import re
import sys

PLACE = re.compile(r"^add the digits at place (\w):", re.M)
FETCH = re.compile(r"^add the digits at place \w: x1=(\w)(\d)", re.M)


def expected(x1_pairs: list[tuple[str, str]], order: str) -> list[str]:
    tags = [t for _, t in x1_pairs]
    return {"big": tags[::-1], "little": tags, "letters": sorted(tags)}[order]


def main(run: str, order: str = "big"):
    counts = collections.defaultdict(collections.Counter)
    for line in open(f"{run}/eval/samples.jsonl"):
        s = json.loads(line)
        x1 = s["prompt"].split("What is ")[1].split(" + ")[0]
        pairs = [(x1[i], x1[i + 1]) for i in range(0, len(x1), 2)]
        digit = {t: d for d, t in pairs}
        c = counts[s["length"]]
        c["samples"] += 1
        c["flow"] += PLACE.findall(s["output"]) == expected(pairs, order)
        for tag, d in FETCH.findall(s["output"]):
            c["fetches"] += tag in digit
            c["right"] += digit.get(tag) == d
    for length, c in sorted(counts.items()):
        print(f"{length:>2} digits: control flow right {c['flow']}/{c['samples']} "
              f"({100 * c['flow'] / c['samples']:.0f}%), x1 fetches right "
              f"{c['right']}/{c['fetches']} ({100 * c['right'] / max(c['fetches'], 1):.0f}%)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
