"""Synthetic, language-like corpus for the bundled MechLens model.

Everything is generated from a fixed cast (names, objects, places, a fictional world of cities,
countries and languages) with a seeded RNG, so the corpus, the held-out split and the evaluation
prompts are reproducible bit for bit.

Task families (each recurs throughout the training text):
  ioi            indirect-object sentences ("When Mary and John went to the store, John gave the drink to" -> " Mary")
  ioi_template   the same task in a sentence template that never occurs in training
  induction      a random sequence of cast words that is repeated ("... Mary key Varn park ... Mary key" -> " Varn")
  fact           one-hop facts of the fictional world (city -> country, country -> language)
  twohop         city -> language ("The people of Varn speak" -> " Keldish") for cities whose two-hop
                 sentence never occurs in training (only their one-hop facts do)
  counting       number-word successor ("three four five" -> " six")
  brackets       closing nested brackets ("( [ { } ]" -> " )")
plus filler narrative sentences.

Held-out split: evaluation prompts are drawn with their own seed and every training document that
contains an evaluation prompt as a prefix is rejected, so IOI / induction / counting / bracket prompts are
unseen; ioi_template and twohop are unseen by construction; facts are necessarily seen (they are the
world's facts) and are evaluated on the training templates.
"""
import json
import os
import random

NAMES = ["Mary", "John", "Alice", "Bob", "Tom", "Anna", "Sarah", "David", "James", "Emma", "Lucy", "Mark",
         "Paul", "Kate", "Peter", "Laura", "Sam", "Helen", "Jack", "Rose", "Nick", "Clara", "Henry", "Julia"]
OBJECTS = ["drink", "book", "ball", "key", "letter", "apple", "cake", "gift", "ring", "hat", "coin", "map",
           "pen", "cup", "flower", "bottle"]
PLACES = ["store", "park", "school", "market", "garden", "office", "station", "library", "beach", "kitchen",
          "river", "house"]
COUNTRIES = ["Keldor", "Mirovia", "Pathenia", "Drosk", "Olvania", "Sarth", "Bellamar", "Quorra"]
LANGUAGES = ["Keldish", "Mirovan", "Pathenic", "Droskan", "Olvese", "Sarthi", "Bellish", "Quorran"]
CITIES = ["Varn", "Oskel", "Brimley", "Tolmar", "Quenth", "Yarrow", "Dunmere", "Pellin", "Cardo", "Miren",
          "Halvey", "Sorn", "Ebbin", "Lutch", "Farrow", "Gilden", "Norrel", "Ustin", "Raskel", "Vellum",
          "Zorna", "Ambry", "Kessel", "Tamber"]
# city i lies in country i // 3; the first city of each country is held out of two-hop training sentences
CITY_COUNTRY = {c: COUNTRIES[i // 3] for i, c in enumerate(CITIES)}
COUNTRY_LANG = dict(zip(COUNTRIES, LANGUAGES))
TWOHOP_HELDOUT = [CITIES[i] for i in range(0, len(CITIES), 3)]
NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
BRACKETS = [("(", ")"), ("[", "]"), ("{", "}"), ("<", ">")]
VERBS_PAST = ["walked to", "ran to", "went to", "looked at", "stayed at", "cleaned", "visited", "left"]
ADJ = ["small", "red", "old", "new", "big", "blue", "green", "heavy"]
# words used for repeated random sequences (induction)
INDUCTION_POOL = NAMES + OBJECTS + PLACES + CITIES

IOI_TEMPLATES = [
    "When {X} and {Y} went to the {P}, {S} gave the {O} to",
    "Then, {X} and {Y} went to the {P}. {S} gave the {O} to",
    "After {X} and {Y} arrived at the {P}, {S} handed the {O} to",
    "While {X} and {Y} were at the {P}, {S} passed the {O} to",
    "Later, {X} and {Y} met at the {P}. {S} brought the {O} to",
]
IOI_HELDOUT_TEMPLATE = "{X} and {Y} were working at the {P}. {S} decided to give the {O} to"
CITY_COUNTRY_T = ["{C} is a city in", "The city of {C} is located in", "{C} lies in the country of"]
COUNTRY_LANG_T = ["The people of {K} speak", "In {K}, most people speak", "The language of {K} is"]
TWOHOP_T = "The people of {C} speak"


def ioi(rng, template):
    io, s = rng.sample(NAMES, 2)
    x, y = (io, s) if rng.random() < 0.5 else (s, io)
    p = template.format(X=x, Y=y, S=s, P=rng.choice(PLACES), O=rng.choice(OBJECTS))
    return p, " " + io


def induction(rng, min_len=6, max_len=14):
    seq = rng.sample(INDUCTION_POOL, rng.randint(min_len, max_len))
    return seq


def induction_prompt(rng):
    seq = induction(rng)
    k = rng.randint(1, len(seq) - 1)
    return " ".join(seq + seq[:k]), " " + seq[k]


def fact_prompt(rng):
    if rng.random() < 0.5:
        c = rng.choice(CITIES)
        return rng.choice(CITY_COUNTRY_T).format(C=c), " " + CITY_COUNTRY[c]
    k = rng.choice(COUNTRIES)
    return rng.choice(COUNTRY_LANG_T).format(K=k), " " + COUNTRY_LANG[k]


def counting_prompt(rng):
    start = rng.randint(0, len(NUMBERS) - 4)
    n = rng.randint(3, min(6, len(NUMBERS) - start - 1))
    return "Counting: " + " ".join(NUMBERS[start:start + n]), " " + NUMBERS[start + n]


def bracket_seq(rng):
    depth = rng.randint(2, 5)
    opens = [rng.choice(BRACKETS) for _ in range(depth)]
    return [o for o, _ in opens] + [c for _, c in reversed(opens)]


def bracket_prompt(rng):
    seq = bracket_seq(rng)
    depth = len(seq) // 2
    k = rng.randint(depth + 1, len(seq) - 1)  # at least one closer already written
    return "Brackets: " + " ".join(seq[:k]), " " + seq[k]


# ---------------------------------------------------------------- training documents
def filler(rng):
    a, b = rng.sample(NAMES, 2)
    forms = [
        f"{a} {rng.choice(VERBS_PAST)} the {rng.choice(PLACES)}.",
        f"{a} found a {rng.choice(ADJ)} {rng.choice(OBJECTS)} at the {rng.choice(PLACES)}.",
        f"The {rng.choice(OBJECTS)} was in the {rng.choice(PLACES)}.",
        f"{a} and {b} talked for a long time.",
        f"{a} likes the {rng.choice(ADJ)} {rng.choice(OBJECTS)}.",
        f"{a} lives in {rng.choice(CITIES)}.",
        f"{a} traveled from {rng.choice(CITIES)} to {rng.choice(CITIES)}.",
        f"{a} saw {b} near the {rng.choice(PLACES)}.",
    ]
    return rng.choice(forms)


def fact_sentence(rng):
    r = rng.random()
    if r < 0.4:
        c = rng.choice(CITIES)
        return rng.choice(CITY_COUNTRY_T).format(C=c) + " " + CITY_COUNTRY[c] + "."
    if r < 0.75:
        k = rng.choice(COUNTRIES)
        return rng.choice(COUNTRY_LANG_T).format(K=k) + " " + COUNTRY_LANG[k] + "."
    c = rng.choice([c for c in CITIES if c not in TWOHOP_HELDOUT])
    return TWOHOP_T.format(C=c) + " " + COUNTRY_LANG[CITY_COUNTRY[c]] + "."


def task_sentence(rng):
    r = rng.random()
    if r < 0.30:
        p, t = ioi(rng, rng.choice(IOI_TEMPLATES))
        return p + t + "."
    if r < 0.50:
        seq = induction(rng)
        return " ".join(seq + seq) + "."
    if r < 0.68:
        return fact_sentence(rng)
    if r < 0.78:
        start = rng.randint(0, len(NUMBERS) - 3)
        n = rng.randint(3, len(NUMBERS) - start)
        return "Counting: " + " ".join(NUMBERS[start:start + n]) + "."
    if r < 0.88:
        return "Brackets: " + " ".join(bracket_seq(rng)) + " done."
    return filler(rng)


def document(rng):
    """A short document: 1-4 sentences, tasks mixed with filler."""
    n = rng.choice([1, 1, 2, 2, 3, 4])
    return " ".join(task_sentence(rng) for _ in range(n))


FAMILIES = {
    "ioi": lambda rng: ioi(rng, rng.choice(IOI_TEMPLATES)),
    "ioi_template": lambda rng: ioi(rng, IOI_HELDOUT_TEMPLATE),
    "induction": induction_prompt,
    "fact": fact_prompt,
    "twohop": lambda rng: (lambda c: (TWOHOP_T.format(C=c), " " + COUNTRY_LANG[CITY_COUNTRY[c]]))(
        rng.choice(TWOHOP_HELDOUT)),
    "counting": counting_prompt,
    "brackets": bracket_prompt,
}


def eval_prompts(seed=1234, n=200):
    rng = random.Random(seed)
    out = {}
    for fam, fn in FAMILIES.items():
        seen, rows = set(), []
        tries = 0
        while len(rows) < n and tries < 50 * n:
            tries += 1
            p, t = fn(rng)
            if fam in ("fact", "twohop", "counting") or (p, t) not in seen:
                seen.add((p, t))
                rows.append({"prompt": p, "target": t, "family": fam})
        out[fam] = rows
    return out


def training_docs(seed, n, banned_prefixes):
    """n documents; documents starting with a held-out eval prompt (non-fact families) are rejected."""
    rng = random.Random(seed)
    docs = []
    while len(docs) < n:
        d = document(rng)
        # cheap check: ioi / induction / bracket prompts are long and specific
        key = d[:60]
        if any(d.startswith(b) for b in banned_prefixes.get(key[:24], ())):
            continue
        docs.append(d)
    return docs


def banned_index(evals):
    idx = {}
    for fam in ("ioi", "induction", "brackets"):
        for r in evals[fam]:
            idx.setdefault(r["prompt"][:24], []).append(r["prompt"])
    return idx


def write_evals(evals, outdir):
    os.makedirs(outdir, exist_ok=True)
    for fam, rows in evals.items():
        with open(os.path.join(outdir, f"{fam}.jsonl"), "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    rng = random.Random(0)
    for _ in range(8):
        print(document(rng))
    ev = eval_prompts()
    for fam, rows in ev.items():
        print(fam, rows[0])
