"""A text-regression task type written from docs/task-types.md alone: it imports only the public
facade ``autoglm_core``. TF-IDF features and a ridge regression (scikit-learn); the model is a
JSON file; ``predict_records`` gives ``{"value": x}`` per text, which ``autoglm predict`` prints."""

import json
import math
from pathlib import Path

from autoglm_core import (
    BuiltModel,
    CandidateSpec,
    Metric,
    TaskType,
    VariantResult,
    hookimpl,
    load_numeric_splits,
    numeric_target,
)

TASK = "text_regression"


class RidgeText:
    def __init__(self, vocabulary, idf, coef, intercept):
        self.vocabulary, self.idf, self.coef, self.intercept = vocabulary, idf, coef, intercept

    @classmethod
    def fit(cls, texts, values, alpha):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge

        vec = TfidfVectorizer()
        ridge = Ridge(alpha=alpha).fit(vec.fit_transform(texts), values)
        vocabulary = {word: int(i) for word, i in vec.vocabulary_.items()}
        return cls(vocabulary, vec.idf_.tolist(), ridge.coef_.tolist(), float(ridge.intercept_))

    def predict(self, texts):
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(vocabulary=self.vocabulary)
        vec.idf_ = np.asarray(self.idf)
        x = vec.transform(texts)
        return [float(v) + self.intercept for v in x @ np.asarray(self.coef)]

    def save_pretrained(self, directory, safe_serialization=True):
        state = {"vocabulary": self.vocabulary, "idf": self.idf, "coef": self.coef, "intercept": self.intercept}
        Path(directory, "ridge.json").write_text(json.dumps(state), encoding="utf-8")


class RegressionModel(BuiltModel):
    predicts_records = True  # one value per text, not a label: `autoglm predict` prints the records

    def predict(self, texts, batch_size=32, max_length=128):
        return self.model.predict(list(texts))

    def predict_records(self, texts, batch_size=32, max_length=128):
        return [{"value": round(v, 6)} for v in self.predict(texts)]


def scores(model, rows, prefix=""):
    if not rows:
        return {}
    predicted = model.predict([ex.text for ex in rows])
    truth = [numeric_target(ex) for ex in rows]
    errors = [p - t for p, t in zip(predicted, truth, strict=True)]
    return {f"{prefix}rmse": math.sqrt(sum(e * e for e in errors) / len(errors)),
            f"{prefix}mae": sum(abs(e) for e in errors) / len(errors)}


class TextRegression(TaskType):
    name = TASK
    description = "predict a number from a text (TF-IDF + ridge)"
    has_labels = False
    default_compress = ()
    reports_held_out = True  # evaluate returns val_rmse and val_mae from the validation split
    metrics = (Metric("rmse", higher_is_better=False), Metric("mae", higher_is_better=False))

    def load_data(self, context):
        return load_numeric_splits(context.spec, context.config.split, context.config.seed, context.manager)

    def train(self, context, candidate):
        rows = context.splits.train
        alpha = candidate.options["alpha"]
        model = RidgeText.fit([ex.text for ex in rows], [numeric_target(ex) for ex in rows], alpha)
        return RegressionModel(model=model, tokenizer=None, labels=[], task_type=TASK, candidate=candidate,
                               meta={"alpha": alpha})

    def evaluate(self, context, built, variant, model_dir=None):
        metrics = {**scores(built.model, context.splits.test), **scores(built.model, context.splits.validation, "val_")}
        return VariantResult(candidate=built.candidate.name, variant=variant, backbone=built.candidate.backbone,
                             metrics=metrics, model_dir=context.rel(model_dir) if model_dir else None)

    def latency_inputs(self, context, built):
        return [ex.text for ex in context.splits.test]

    def model_card_sections(self, context, best, model_dir):
        return [f"A ridge regression on TF-IDF features; test RMSE {best.metrics['rmse']:.3f}.\n"]

    @classmethod
    def load_model(cls, directory, meta, **kwargs):
        state = json.loads(Path(directory, "ridge.json").read_text(encoding="utf-8"))
        cand = meta.get("candidate")
        return RegressionModel(model=RidgeText(**state), tokenizer=None, labels=[], task_type=TASK,
                               candidate=CandidateSpec.model_validate(cand) if cand else None,
                               variant=meta.get("variant", "fine-tuned"), meta=meta.get("meta", {}))


@hookimpl
def autoglm_register_task_types(register):
    register(TextRegression)


@hookimpl
def autoglm_generate_candidates(spec):
    if spec.task_type != TASK:
        return []
    return [CandidateSpec(name=f"ridge-{a:g}", backbone=f"ridge-{a:g}", builder="ridge", source="ridge",
                          options={"alpha": a, "cheap": True}, reason=f"ridge, alpha {a:g}")
            for a in (0.1, 100.0)]
