"""Enumeration tasks: count letters, Diophantine solutions, prime search.

count_letters
    Instance: a lowercase sentence of n words (from a fixed vocabulary of common English words)
    and a query letter. Answer: how many times the letter occurs in the sentence, an integer.
    Enumeration: one state per letter of the sentence, word by word; it restates the letter,
    the query letter and the running count.
    Symmetry folded: the order of the words (the count is the same in any order).

diophantine
    Instance: a, b in 1..10 and n. Answer: every non-negative integer solution (x1, x2) of
    a*x1 + b*x2 = n, written "(x1,x2),(x1,x2),..." in increasing x1, or "none"; scoring ignores
    the order. Enumeration: x1 = 0, 1, ..., n // a, one state each: the rest r = n - a*x1 is
    obtained from the previous rest by one subtraction, then r mod b decides; when it is 0,
    x2 = r / b.
    Symmetry folded: none (swapping a and b swaps every solution pair).

prime_search
    Instance: a range [lo, hi] with hi = n and lo drawn from [n - n//3, n], so the range grows
    with n (a third of n keeps the L traces near 32k characters). Answer: every prime p with
    lo <= p <= hi, comma-separated in increasing order, or "none"; scoring ignores the order.
    Enumeration: trial division of each k in the range by d = 2, 3, 5, 7, 9, ... (2, then the
    odd numbers) while d*d <= k, one state per division that also squares the next divisor for
    the loop test, stopping at the first divisor.
    Symmetry folded: none (lo and hi give the range).
"""

from __future__ import annotations

import random

from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_int_list, canonical_integer, canonical_pairs
from tailjax.tasks.trace import Trace

# --- count letters -------------------------------------------------------------------------------

WORDS = (
    "the a an and or but if then so very much many few all some every each other another "
    "cat dog bird fish horse cow sheep goat mouse rabbit tiger lion bear wolf fox deer "
    "house tree river road city town village garden forest mountain valley ocean lake field "
    "bread milk water apple orange banana grape lemon cheese butter honey sugar rice bean "
    "red blue green yellow black white brown purple pink gray "
    "big small tall short long quick slow happy sad bright dark warm cold new old young "
    "run walk jump swim fly read write sing dance play cook eat drink sleep think speak "
    "teacher doctor farmer baker sailor painter writer singer driver pilot student child "
    "book letter paper pencil table chair window door floor wall roof bridge train boat "
    "morning evening night winter summer spring autumn today yesterday tomorrow always never "
    "quietly loudly gently slowly quickly happily together alone again almost"
).split()


def sample_letters(rng: random.Random, n: int) -> dict:
    words = [rng.choice(WORDS) for _ in range(n)]
    present = sorted(set("".join(words)))
    letter = rng.choice(present) if rng.random() < 0.9 else rng.choice("abcdefghijklmnopqrstuvwxyz")
    return {"words": words, "letter": letter}


def solve_letters(instance: dict):
    words, q = instance["words"], instance["letter"]
    tr = Trace()
    tr.note(f"Go through the sentence word by word and count the letter {q}.")
    count = 0
    for w, word in enumerate(words):
        for k, ch in enumerate(word):
            hit = ch == q
            new = count + 1 if hit else count
            tr.state(f"check word {w} letter {k}", fetch={f"w{w}[{k}]": ch, "q": q, "count": count},
                     compute=f"{ch} = {q}, {count} + 1 = {new}" if hit else f"{ch} != {q}",
                     write={"count": new}, loop="letter")
            count = new
        if w in (0, len(words) // 2):
            tr.note(f'After the word "{word}", the count is {count}.')
    tr.state("report count", fetch={"count": count}, compute="every letter is checked")
    return tr.finish(count)


LETTER_TEMPLATES = (
    "How many times does the letter {letter} appear in the sentence \"{sentence}\"?",
    "Count the occurrences of the letter '{letter}' in: {sentence}",
    "In the text \"{sentence}\", how many {letter}'s are there?",
    "Sentence: {sentence}. Letter: {letter}. How many times does the letter occur?",
    "Find the number of times '{letter}' occurs in the following sentence of {n} words: "
    "{sentence}",
    "Count every '{letter}' in \"{sentence}\".",
    "What is the frequency of the letter {letter} in \"{sentence}\"?",
    "How often is the character '{letter}' used in the words \"{sentence}\"?",
    "Enumerate the letters of \"{sentence}\" and count how many are '{letter}'.",
    "Tell me the number of letters equal to '{letter}' in this sentence: {sentence}",
    "Given the sentence \"{sentence}\", compute the count of the letter {letter}.",
    "\"{sentence}\" -- how many '{letter}' characters does this contain?",
    "A typesetter sets the sentence \"{sentence}\" in metal type. How many pieces of type "
    "with the letter '{letter}' does she need?",
    "A child practising handwriting copies \"{sentence}\". How many times will she write the "
    "letter {letter}?",
    "A sign painter charges per letter '{letter}' painted. How many does the sign "
    "\"{sentence}\" contain?",
    "A cryptographer counts letter frequencies in the intercepted message \"{sentence}\". "
    "What is the count for '{letter}'?",
    "A knitter stitches the slogan \"{sentence}\" into a scarf. How many times does she stitch "
    "the letter {letter}?",
    "A teacher asks the class to circle every '{letter}' in the sentence \"{sentence}\". How "
    "many circles should there be?",
    "A baker writes \"{sentence}\" on a cake in icing. How many '{letter}'s does she pipe?",
    "A radio operator spells out \"{sentence}\" letter by letter. How many times does he say "
    "'{letter}'?",
    "A word game awards a point for each '{letter}' in the phrase \"{sentence}\". How many "
    "points does the phrase earn?",
    "An editor is checking the headline \"{sentence}\". How many occurrences of '{letter}' "
    "does it have?",
)


def letters_fields(instance: dict) -> dict:
    return {"sentence": " ".join(instance["words"]), "letter": instance["letter"],
            "n": len(instance["words"])}


register(Task(
    name="count_letters",
    paradigm="enumeration",
    ranges={"S": (2, 6), "M": (7, 10), "L": (11, 20)},
    sample=sample_letters,
    solve=solve_letters,
    templates=LETTER_TEMPLATES,
    fields=letters_fields,
    canonical=canonical_integer,
    fold=lambda inst: {**inst, "words": sorted(inst["words"])},
))

# --- Diophantine ---------------------------------------------------------------------------------


def sample_diophantine(rng: random.Random, n: int) -> dict:
    return {"a": rng.randint(1, 10), "b": rng.randint(1, 10), "n": n}


def solve_diophantine(instance: dict):
    a, b, n = instance["a"], instance["b"], instance["n"]
    tr = Trace()
    tr.note(f"Try every x1 from 0 to {n} // {a} = {n // a} and check whether the rest "
            f"{n} - {a}*x1 is divisible by {b}.")
    found = []
    rest = n
    for x1 in range(n // a + 1):
        if x1 == 0:
            fetch, sub = {"n": n}, f"r = {n}"
        else:
            fetch, sub = {"r": rest, "a": a}, f"{rest} - {a} = {rest - a}"
            rest -= a
        m = rest % b
        if m == 0:
            x2 = rest // b
            found.append((x1, x2))
            compute = f"{sub}, {rest} mod {b} = 0, {rest} / {b} = {x2}"
            write = {"r": rest, "solution": f"({x1},{x2})"}
        else:
            compute, write = f"{sub}, {rest} mod {b} = {m}", {"r": rest}
        tr.state(f"try x1 = {x1}", fetch=fetch, compute=compute, write=write, loop="x1")
    answer = ",".join(f"({x1},{x2})" for x1, x2 in found) or "none"
    tr.state("collect solutions", fetch={"solutions": answer},
             compute=f"{n // a + 1} values of x1 tried, {len(found)} solutions found")
    tr.note(f"The solutions are {answer}.")
    return tr.finish(answer)


DIOPHANTINE_TEMPLATES = (
    "Find all non-negative integer solutions (x1, x2) of {a}*x1 + {b}*x2 = {n}.",
    "List every pair of non-negative integers (x1, x2) with {a}x1 + {b}x2 = {n}.",
    "Solve {a}*x1 + {b}*x2 = {n} over the non-negative integers. Give all solutions as "
    "(x1,x2) pairs, or none.",
    "Enumerate the non-negative solutions of the linear Diophantine equation {a}x + {b}y = {n}, "
    "written (x,y).",
    "Which pairs (x1, x2) of natural numbers (0 included) satisfy {a} x1 + {b} x2 = {n}?",
    "For a = {a}, b = {b} and n = {n}, find all (x1, x2) >= 0 with a*x1 + b*x2 = n.",
    "Give the complete set of non-negative integer pairs solving {a}*x1 + {b}*x2 = {n}.",
    "Determine all ways to write {n} as {a} times x1 plus {b} times x2 with x1, x2 >= 0.",
    "How can {n} be expressed as {a}*x1 + {b}*x2 with non-negative integers? List every "
    "(x1,x2).",
    "Equation: {a}x1 + {b}x2 = {n}, x1, x2 non-negative integers. All solutions?",
    "List all (x1,x2) in increasing x1 such that {a}*x1 + {b}*x2 equals {n}, x1 and x2 "
    "non-negative.",
    "A shop sells pencils at {a} cents and erasers at {b} cents. In which ways can exactly "
    "{n} cents be spent? Give (pencils, erasers) pairs.",
    "A postal clerk has stamps worth {a} and {b}. List every (number of {a}-stamps, number of "
    "{b}-stamps) that makes a postage of exactly {n}.",
    "A carpenter cuts boards of {a} m and {b} m from a {n} m beam with no waste. List all "
    "(count of {a} m boards, count of {b} m boards).",
    "A runner trains with laps of {a} km and {b} km and wants exactly {n} km. Which (short "
    "laps, long laps) combinations work? List them as (x1,x2).",
    "A vending machine takes coins worth {a} and {b}. List all ways, as (coins of {a}, coins "
    "of {b}), to insert exactly {n}.",
    "A bus holds {a} people and a van holds {b}. To move exactly {n} people in full vehicles, "
    "which (buses, vans) counts are possible?",
    "A chemist mixes doses of {a} ml and {b} ml to get exactly {n} ml. List every (doses of "
    "{a} ml, doses of {b} ml).",
    "Tiles of length {a} and {b} must cover a {n} cm strip exactly. List every (tiles of {a}, "
    "tiles of {b}) combination.",
    "A game awards {a} points per goal and {b} points per bonus. A team scored exactly {n} "
    "points; list every possible (goals, bonuses).",
    "A farmer packs eggs in boxes of {a} and {b} and has {n} eggs. List all ways (boxes of "
    "{a}, boxes of {b}) to pack them with none left over.",
    "A cinema sells tickets at {a} and {b} dollars and took in exactly {n} dollars. List all "
    "(cheap tickets, expensive tickets) counts.",
)
# What the scorer requires (Task.answer_rule): pairs, or none.
DIOPHANTINE_ANSWER = ("Answer with each solution as a pair in parentheses, the unknown multiplied "
                      "by {a} first, e.g. (1,3), comma-separated (in any order), or none if there "
                      "is none.")


def diophantine_fields(instance: dict) -> dict:
    return dict(instance)


register(Task(
    name="diophantine",
    paradigm="enumeration",
    ranges={"S": (10, 50), "M": (51, 100), "L": (101, 200)},
    sample=sample_diophantine,
    solve=solve_diophantine,
    templates=DIOPHANTINE_TEMPLATES,
    fields=diophantine_fields,
    canonical=canonical_pairs,
    answer_rule=DIOPHANTINE_ANSWER,
))

# --- prime search --------------------------------------------------------------------------------


def sample_primes(rng: random.Random, n: int) -> dict:
    if n < 2:
        raise ValueError(f"prime_search searches up to n >= 2 (there is no prime below 2), got "
                         f"length {n}; give lengths with LO >= 2")
    return {"lo": rng.randint(max(2, n - n // 3), n), "hi": n}


def solve_primes(instance: dict):
    lo, hi = instance["lo"], instance["hi"]
    tr = Trace()
    tr.note(f"Test every number from {lo} to {hi} by trial division up to its square root.")
    primes = []
    for k in range(lo, hi + 1):
        d = 2
        composite = False
        while d * d <= k:
            m = k % d
            if m == 0:
                tr.state(f"divide {k} by {d}", fetch={"k": k, "d": d},
                         compute=f"{k} mod {d} = 0, {k} is composite", loop="divide")
                composite = True
                break
            nxt = 3 if d == 2 else d + 2  # after 2, only odd divisors can divide an odd k
            tr.state(f"divide {k} by {d}", fetch={"k": k, "d": d},
                     compute=f"{k} mod {d} = {m}, {nxt}*{nxt} = {nxt * nxt}", loop="divide")
            d = nxt
        if not composite:
            primes.append(k)
            tr.state(f"accept {k}", fetch={"k": k},
                     compute=f"no divisor d with d*d <= {k}, {k} is prime",
                     write={"primes": " ".join(map(str, primes))})
    answer = ",".join(map(str, primes)) or "none"
    tr.state("report primes", fetch={"primes": " ".join(map(str, primes)) or "none"},
             compute=f"{len(primes)} primes found")
    tr.note(f"The primes between {lo} and {hi} are {answer}.")
    return tr.finish(answer)


def canonical_primes(text: str) -> str:
    return canonical_int_list(text, sort=True)


PRIME_TEMPLATES = (
    "List all prime numbers between {lo} and {hi}, inclusive.",
    "Find every prime p with {lo} <= p <= {hi}.",
    "Which numbers in the range [{lo}, {hi}] are prime?",
    "Give all primes in the interval from {lo} to {hi}.",
    "Enumerate the primes between {lo} and {hi} (both ends included).",
    "What are the prime numbers from {lo} up to {hi}?",
    "Output the primes in [{lo}, {hi}] in increasing order, or none if there are none.",
    "Search the integers {lo}..{hi} for primes and list them.",
    "Using trial division, find all primes not smaller than {lo} and not larger than {hi}.",
    "Identify each prime among the integers from {lo} through {hi}.",
    "List the primes p such that p >= {lo} and p <= {hi}.",
    "Determine all prime numbers in the closed range {lo} to {hi}.",
    "A locksmith only uses prime numbers between {lo} and {hi} as codes. Which codes can he "
    "use?",
    "Houses on a street are numbered {lo} to {hi}. A mail carrier delivers flyers only to "
    "houses with prime numbers. Which houses get a flyer?",
    "A teacher gives a sticker to each student whose ticket number, between {lo} and {hi}, is "
    "prime. Which ticket numbers win a sticker?",
    "A cicada species emerges only in years whose count is prime. Which counts from {lo} to "
    "{hi} qualify?",
    "A bank issues account numbers from {lo} to {hi} and reserves the prime ones. Which "
    "numbers are reserved?",
    "In a treasure hunt, only the prime-numbered boxes between {lo} and {hi} hold a prize. "
    "List the winning boxes.",
    "A cryptography class needs all the primes from {lo} to {hi} for key generation. List "
    "them.",
    "Seats in a theatre row are numbered {lo} through {hi}; the prime-numbered seats are "
    "reserved for guests. Which seats are reserved?",
    "A library shelves rare books only at prime shelf numbers between {lo} and {hi}. Which "
    "shelves hold rare books?",
    "A quiz asks for every prime page number in a chapter running from page {lo} to page {hi}. "
    "What is the answer?",
)
# What the scorer requires (Task.answer_rule): a list, or none.
PRIME_ANSWER = "Answer with the primes comma-separated (in any order), or none if there is none."


def prime_fields(instance: dict) -> dict:
    return {"lo": instance["lo"], "hi": instance["hi"]}


register(Task(
    name="prime_search",
    paradigm="enumeration",
    ranges={"S": (5, 100), "M": (101, 200), "L": (201, 300)},
    sample=sample_primes,
    solve=solve_primes,
    templates=PRIME_TEMPLATES,
    fields=prime_fields,
    canonical=canonical_primes,
    answer_rule=PRIME_ANSWER,
))
