"""TextAttack recipes: which run offline here, which need downloads (and what), and the attack
components that wrap the runnable ones."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from autoglm_core import Attack, AutoGLMError, RunContext, did_you_mean


class TextAttackError(AutoGLMError):
    """A TextAttack recipe cannot run (unknown, needs a download, bad examples)."""


@dataclass(frozen=True)
class Recipe:
    name: str
    cls: str  # class in textattack.attack_recipes
    level: str
    needs: str = ""  # what must be downloaded; empty when it runs offline
    needs_wordnet: bool = False


RECIPES: tuple[Recipe, ...] = (
    Recipe("deepwordbug", "DeepWordBugGao2018", "character"),
    Recipe("pruthi", "Pruthi2019", "character"),
    Recipe("pwws", "PWWSRen2019", "word (WordNet synonyms)", needs_wordnet=True),
    Recipe("textfooler", "TextFoolerJin2019", "word", "counter-fitted word embeddings and the Universal Sentence Encoder (TF Hub)"),
    Recipe("textbugger", "TextBuggerLi2018", "character+word", "GloVe embeddings and the Universal Sentence Encoder (TF Hub)"),
    Recipe("bae", "BAEGarg2019", "word", "the bert-base-uncased masked LM and the Universal Sentence Encoder"),
    Recipe("bert-attack", "BERTAttackLi2020", "word", "the bert-base-uncased masked LM and the Universal Sentence Encoder"),
    Recipe("clare", "CLARE2020", "word", "the distilroberta-base masked LM and the Universal Sentence Encoder"),
    Recipe("a2t", "A2TYoo2021", "word", "counter-fitted embeddings and a BERT sentence encoder"),
    Recipe("alzantot", "GeneticAlgorithmAlzantot2018", "word", "counter-fitted embeddings and the Google 1B language model"),
    Recipe("faster-alzantot", "FasterGeneticAlgorithmJia2019", "word", "counter-fitted embeddings and the Google 1B language model"),
    Recipe("pso", "PSOZang2020", "word", "HowNet sememe data"),
    Recipe("iga", "IGAWang2019", "word", "counter-fitted word embeddings"),
    Recipe("kuleshov", "Kuleshov2017", "word", "GloVe thought vectors and GPT-2"),
    Recipe("hotflip", "HotFlipEbrahimi2017", "word", "counter-fitted word embeddings"),
    Recipe("checklist", "CheckList2020", "word", "the flair NER model"),
    Recipe("input-reduction", "InputReductionFeng2018", "word", "not an attack on the label (it shrinks inputs)"),
    Recipe("chinese", "ChineseRecipe", "word (Chinese)", "a Chinese BERT masked LM and HowNet data"),
)
BY_NAME = {r.name: r for r in RECIPES}


def recipe_status(recipe: Recipe) -> tuple[bool, str]:
    """(runnable here, why not)."""
    if recipe.needs:
        return False, f"needs a download: {recipe.needs}"
    if recipe.needs_wordnet:
        from .offline import has_wordnet, wordnet_source

        if not has_wordnet():
            return False, (f"needs WordNet 3.0 files: install Debian's wordnet-base (apt-get install wordnet-base), "
                           f"or point AUTOGLM_WORDNET_DIR at a folder with data.noun/index.noun "
                           f"(looked in {wordnet_source() or '/usr/share/wordnet'})")
    return True, ""


def recipe_table() -> list[dict[str, Any]]:
    rows = []
    for r in RECIPES:
        ok, why = recipe_status(r)
        rows.append({"recipe": r.name, "level": r.level, "available": ok, "reason": why})
    return rows


def get_recipe(name: str) -> Recipe:
    if name not in BY_NAME:
        raise TextAttackError(f"unknown TextAttack recipe {name!r}.{did_you_mean(name, BY_NAME)} Recipes: "
                              f"{', '.join(BY_NAME)}.")
    recipe = BY_NAME[name]
    ok, why = recipe_status(recipe)
    if not ok:
        runnable = [r.name for r in RECIPES if recipe_status(r)[0]]
        raise TextAttackError(f"TextAttack recipe {name!r} is unavailable offline: it {why}. Runnable here: "
                              f"{', '.join(runnable)}.")
    return recipe


def model_wrapper(built: Any, batch_size: int = 32, max_length: int = 128) -> Any:
    """A TextAttack ModelWrapper around any BuiltModel (compressed or defended variants included):
    TextAttack only needs class probabilities for a list of strings."""
    from textattack.models.wrappers import ModelWrapper

    class BuiltModelWrapper(ModelWrapper):
        def __init__(self) -> None:
            self.model = built.model

        def __call__(self, text_input_list: list[str], **kwargs: Any) -> Any:
            return built.predict_proba(list(text_input_list), batch_size=batch_size, max_length=max_length)

    return BuiltModelWrapper()


def build_attack(recipe: Recipe, built: Any, query_budget: int | None, batch_size: int, max_length: int) -> Any:
    from .offline import import_textattack, no_downloads

    ta = import_textattack()
    with no_downloads():
        import textattack.attack_recipes as recipes

        attack = getattr(recipes, recipe.cls).build(model_wrapper(built, batch_size, max_length))
    if query_budget:
        attack.goal_function.query_budget = query_budget
    return attack, ta


def run_attack(recipe: Recipe, built: Any, texts: Sequence[str], labels: Sequence[int], *, query_budget: int | None,
               seed: int, batch_size: int = 32, max_length: int = 128) -> dict[str, float]:
    import numpy as np

    attack, ta = build_attack(recipe, built, query_budget, batch_size, max_length)
    from textattack.attack_results import FailedAttackResult, SkippedAttackResult, SuccessfulAttackResult
    from textattack.metrics import AttackQueries, WordsPerturbed

    random.seed(seed)
    np.random.seed(seed)
    results = [attack.attack(text, int(label)) for text, label in zip(texts, labels, strict=True)]
    n = len(results)
    ok = sum(isinstance(r, SuccessfulAttackResult) for r in results)
    failed = sum(isinstance(r, FailedAttackResult) for r in results)
    skipped = sum(isinstance(r, SkippedAttackResult) for r in results)
    attacked = ok + failed
    words = WordsPerturbed().calculate(results) if ok else {"avg_word_perturbed_perc": 0.0}
    queries = AttackQueries().calculate(results) if attacked else {"avg_num_queries": 0.0}
    return {
        "clean_accuracy": attacked / n if n else 0.0,
        "accuracy_under_attack": failed / n if n else 0.0,
        "attack_success_rate": ok / attacked if attacked else 0.0,
        "words_perturbed_pct": float(words["avg_word_perturbed_perc"]),
        "queries_per_example": float(queries["avg_num_queries"]),
        "examples": float(n),
        "skipped": float(skipped),
    }


class TextAttackRecipe(Attack):
    """Base of the recipe attacks; subclasses set ``name``."""
    black_box = True  # needs only predicted probabilities: applies to any model, torch or not

    recipe = ""

    class Options(Attack.Options):
        query_budget: int | None = Field(None, ge=1, description="most model queries per example")
        seed: int = 0
        batch_size: int = Field(32, ge=1)
        max_length: int = Field(128, ge=8)

    def attack(self, built: Any, examples: Sequence[Any], context: RunContext | None) -> dict[str, float]:
        recipe = get_recipe(self.recipe or self.name)
        who = f"attack {self.name!r}"
        if not examples:
            splits = getattr(context, "splits", None) if context is not None else None
            examples = list(splits.test) if splits is not None else []
        if not examples:
            raise TextAttackError(f"{who}: no examples to attack; give examples (CLI: --data FILE).")
        index = {lab: i for i, lab in enumerate(built.labels)}
        for ex in examples:
            if ex.label not in index:
                raise TextAttackError(f"{who}: {ex.file}:{ex.line} has label {ex.label!r}, which the model does not "
                                      f"know (its labels: {built.labels}).")
        o = self.options
        return run_attack(recipe, built, [ex.text for ex in examples], [index[ex.label] for ex in examples],
                          query_budget=o.query_budget, seed=o.seed, batch_size=o.batch_size, max_length=o.max_length)


def attack_classes() -> list[type[TextAttackRecipe]]:
    """One attack component per recipe, runnable or not (an unavailable one explains itself when run)."""
    out = []
    for r in RECIPES:
        ok_desc = f"TextAttack {r.cls} ({r.level})" + (f"; unavailable offline: needs {r.needs}" if r.needs else "")
        out.append(type(f"TextAttack_{r.cls}", (TextAttackRecipe,), {"name": r.name, "recipe": r.name,
                                                                    "description": ok_desc}))
    return out


class TextAttackAny(TextAttackRecipe):
    name = "textattack"
    description = "any TextAttack recipe by name (option recipe=...); `autoglm attack --list` shows which run offline"

    class Options(TextAttackRecipe.Options):
        recipe: str = "deepwordbug"

    def attack(self, built: Any, examples: Sequence[Any], context: RunContext | None) -> dict[str, float]:
        self.recipe = self.options.recipe
        return super().attack(built, examples, context)
