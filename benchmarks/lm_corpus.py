"""A small generated English corpus for the LM fine-tuning benchmark: short weather reports and
shipping notices from a few templates, seeded, so the benchmark needs no shared data and the same
``--docs`` always gives the same text.

The templates are regular enough that a fine-tune should learn them in a few dozen steps (a
lower validation perplexity is the check), and varied enough (cities, days, numbers, items) that
the test split is not a copy of the training split.
"""

from __future__ import annotations

import random

CITIES = ["Paris", "Berlin", "Madrid", "Lisbon", "Oslo", "Vienna", "Prague", "Dublin", "Rome", "Athens",
          "Warsaw", "Helsinki", "Zurich", "Brussels", "Amsterdam", "Copenhagen"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
SKIES = ["sunny", "cloudy", "partly cloudy", "rainy", "foggy", "windy", "stormy", "snowy"]
WINDS = ["north", "south", "east", "west", "north-west", "south-east"]
ITEMS = ["desk lamp", "coffee grinder", "rain jacket", "pair of boots", "travel mug", "bike helmet",
         "kitchen scale", "phone charger", "wool scarf", "garden hose"]
CARRIERS = ["courier", "post", "express freight"]


def weather(rng: random.Random) -> str:
    low = rng.randint(-5, 18)
    return (f"Weather for {rng.choice(CITIES)} on {rng.choice(DAYS)}: {rng.choice(SKIES)}, high of "
            f"{low + rng.randint(3, 12)} degrees, low of {low} degrees, wind {rng.randint(5, 40)} km/h from the "
            f"{rng.choice(WINDS)}.")


def shipping(rng: random.Random) -> str:
    qty = rng.randint(1, 5)
    item = rng.choice(ITEMS)
    return (f"Order {rng.randint(10000, 99999)}: {qty} x {item} shipped by {rng.choice(CARRIERS)} to "
            f"{rng.choice(CITIES)} on {rng.choice(DAYS)}, expected in {rng.randint(2, 9)} days.")


def corpus(n: int, seed: int = 0) -> list[str]:
    """``n`` documents, one sentence each, the two kinds alternating at random."""
    rng = random.Random(seed)
    return [(weather if rng.random() < 0.5 else shipping)(rng) for _ in range(n)]
