"""Enumeration task: count_letters.

Instance: a lowercase sentence of n words (from a fixed vocabulary of common English words)
and a query letter. Answer: how many times the letter occurs in the sentence, an integer.
Enumeration: one state per letter of the sentence, word by word; it restates the letter,
the query letter and the running count.
Symmetry folded: the order of the words (the count is the same in any order).
"""

from __future__ import annotations

import random

from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_integer
from tailjax.tasks.trace import Trace


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
