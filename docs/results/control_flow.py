"""Control flow and fetches of an addition run's eval samples (docs/results/length-generalization.md).

Reads RUN/eval/samples.jsonl (tagged notation) and prints per operand length: the share of
samples whose trace visits exactly the operand's places from the units up (the "add the digits
at place X:" lines) before it reads the sum, and the share of x1 fetches ("x1=X7") that return
the digit the prompt gives place X, over the places the operand has (and the same for x2), and how many places the traces visit
against the operand's length. ORDER says how the prompt lists x1's places: big (top first,
the default notation), little (units first), or letters (consecutive letters, any order).

    python docs/results/control_flow.py runs/demo big
"""

import collections
import json
import re
import sys

PLACE = re.compile(r"^add the digits at place (\w):", re.M)
FETCH = {x: re.compile(rf"{x}=(\w)(\d)") for x in ("x1", "x2")}


def expected(x1_pairs: list[tuple[str, str]], order: str) -> list[str]:
    tags = [t for _, t in x1_pairs]
    return {"big": tags[::-1], "little": tags, "letters": sorted(tags)}[order]


def main(run: str, order: str = "big"):
    counts = collections.defaultdict(collections.Counter)
    for line in open(f"{run}/eval/samples.jsonl"):
        s = json.loads(line)
        operands = s["prompt"].split("What is ")[1].rstrip("? ").split(" + ")
        pairs = {x: [(n[i], n[i + 1]) for i in range(0, len(n), 2)]
                 for x, n in zip(("x1", "x2"), operands)}
        c = counts[s["length"]]
        c["samples"] += 1
        visited = PLACE.findall(s["output"])
        c["flow"] += visited == expected(pairs["x1"], order)
        c[f"visits {len(visited) - s['length']:+d}"] += 1
        for x, fetch in FETCH.items():
            digit = {t: d for d, t in pairs[x]}
            for tag, d in fetch.findall(s["output"]):
                if tag in digit:  # a place the operand has (a visit past its top is flow)
                    c[x] += 1
                    c[x + " right"] += digit[tag] == d
    for length, c in sorted(counts.items()):
        fetches = ", ".join(f"{x} fetches right {c[x + ' right']}/{c[x]} "
                            f"({100 * c[x + ' right'] / max(c[x], 1):.0f}%)" for x in FETCH)
        visits = ", ".join(f"{k.split()[1]}: {v}" for k, v in sorted(c.items())
                           if k.startswith("visits"))
        print(f"{length:>2} digits: control flow right {c['flow']}/{c['samples']} "
              f"({100 * c['flow'] / c['samples']:.0f}%), {fetches}; places visited - length "
              f"{visits}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
