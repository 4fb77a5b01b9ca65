"""The one training loop: every task type stops for the same named reasons, the time budget is
checked after every step, the early-stopping metric is the task's own (or a named error), and
search trains through the task type's loop (image classification) or is refused at plan time."""

from __future__ import annotations

import pytest

from autoglm_core.testing import LABELS, sample_examples, tiny_text_classifier
from autoglm_core.training.loop import STOP_REASONS, LoopSpec, run_loop
from autoglm_core.types.errors import ConfigError
from autoglm_core.types.schemas import TrainConfig

TRAIN, VAL = sample_examples(48, seed=1), sample_examples(12, seed=2)


def classify(cfg):
    from autoglm_core.training.finetune import fine_tune

    built = tiny_text_classifier(texts=[e.text for e in TRAIN])
    return fine_tune(built.model, built.tokenizer, TRAIN, VAL, list(LABELS), cfg, progress=False)


def generate(cfg):
    from autoglm_core.models.tiny import tiny_gpt2_lm
    from autoglm_core.training.causal_lm import train_causal_lm

    lines = [e.text for e in TRAIN]
    model, tok = tiny_gpt2_lm(lines, vocab_size=300, n_positions=64)
    return train_causal_lm(model, tok, lines, [e.text for e in VAL], cfg.model_copy(update={"max_length": 32}),
                           device="cpu")[1]


def images(cfg):
    import torch

    from autoglm_core.tasks.image_classification.backbones import build_image_model, cnn_candidate
    from autoglm_core.training.torch_classifier import batches_of, evaluate_arrays, fit_loop

    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 1, 8, 8, generator=gen), torch.arange(64) % 4
    model = build_image_model(cnn_candidate(), [str(i) for i in range(4)], (8, 8), "L")

    def forward(m, b):
        return m(b["pixel_values"])

    def val(m):
        acc, f1, loss, _ = evaluate_arrays(m, forward, {"pixel_values": x[:16]}, y[:16], 4)
        return acc, f1, loss

    return fit_loop(model, forward, batches_of({"pixel_values": x}, y, 8), 64, val, cfg, seed=0, default_lr=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("train", [classify, generate, images], ids=["classification", "generation", "image"])
def test_every_task_type_stops_with_the_same_reason_names(train):
    steps = train(TrainConfig(epochs=3, batch_size=8, max_steps=2))
    assert (steps.stop_reason, steps.steps, len(steps.history)) == ("max_steps", 2, 1)
    # a budget smaller than one step stops after the first step, not at the end of the epoch
    budget = train(TrainConfig(epochs=3, batch_size=8, time_budget_s=1e-6))
    assert (budget.stop_reason, budget.steps, budget.stopped_early) == ("time_budget", 1, True)
    assert "time budget" in budget.stop_detail and "val_loss" in budget.history[0]
    done = train(TrainConfig(epochs=1, batch_size=8, patience=5))
    assert done.stop_reason == "epochs" and not done.stopped_early
    assert {steps.stop_reason, budget.stop_reason, done.stop_reason} <= set(STOP_REASONS)
    assert done.history[0]["epoch"] == 1 and done.best_epoch == 1 and done.metric


def test_early_stopping_uses_the_metric_direction_and_names_unknown_metrics():
    import torch

    model = torch.nn.Linear(2, 2)
    batch = {"x": torch.ones(4, 2), "y": torch.tensor([0, 1, 0, 1])}

    def loss(m, b):
        return torch.nn.functional.cross_entropy(m(b["x"]), b["y"])

    # a falling "loss" improves every epoch; the same falling values as "f1" never improve after epoch 1
    def spec(metric):
        values = iter([5.0, 4.0, 3.0, 2.0, 1.0])
        return LoopSpec(train_batches=lambda epoch: [batch], steps_per_epoch=1, loss=loss, peft_task=None,
                        evaluate=lambda m: {metric: next(values)}, metric=metric)

    cfg = TrainConfig(epochs=5, patience=2, warmup_ratio=0.0)
    falling = run_loop(model, spec("loss"), cfg, progress=False)
    assert falling.stop_reason == "epochs" and falling.best_epoch == 5 and falling.best_score == 1.0
    f1 = run_loop(model, spec("f1"), cfg, progress=False)
    assert (f1.stop_reason, f1.best_epoch, len(f1.history), f1.best_score) == ("early_stopping", 1, 3, 5.0)
    with pytest.raises(ConfigError, match=r"train.early_stopping_metric='acuracy': this task type's validation reports loss"):
        run_loop(model, spec("loss"), cfg.model_copy(update={"early_stopping_metric": "acuracy"}), progress=False)


@pytest.mark.slow
def test_search_runs_on_image_classification_through_its_loop(tmp_path):
    pytest.importorskip("optuna")
    from autoglm_core import AutoTask
    from autoglm_core.data.images import export_digits

    root = tmp_path / "digits"
    export_digits(root, limit=4)
    config = {"train": {"batch_size": 16}, "search": {"trials": 2, "space": {"epochs": [1, 2]}, "pruner": "none"},
              "evaluate": {"latency_repeats": 1, "latency_batch_sizes": [1], "latency_examples": 4}}
    task = AutoTask.create(task_type="image_classification", dataset=str(root), out=tmp_path / "run",
                           config=config, backbones=["small-cnn"], description="classify digit images")
    report = task.auto_build().launch(progress=False)
    m = next(s for s in report.stages if s.stage == "search").metrics
    assert m["n_complete"] == 2 and m["metric"] == "val_accuracy" and m["direction"] == "maximize"
    assert all(t["intermediate"] for t in m["trials"])  # the image loop reported every epoch to the pruner
    train = next(s for s in report.stages if s.stage == "train").metrics
    assert train["train_config"]["epochs"] == m["best_params"]["epochs"] and train["stop_reason"] in STOP_REASONS


def test_search_is_refused_at_plan_time_for_a_task_type_without_the_shared_loop(tmp_path):
    pytest.importorskip("optuna")
    from autoglm_core import AutoTask
    from autoglm_core.data.images import export_digit_captions

    pairs = export_digit_captions(tmp_path / "mm", limit=2)
    task = AutoTask.create(task_type="multimodal_classification", dataset=str(pairs), out=tmp_path / "run",
                           config={"search": {"trials": 2}}, description="match photos and captions")
    with pytest.raises(ConfigError, match="search is not supported for task type 'multimodal_classification'"):
        task.auto_build()
    assert not (tmp_path / "run").exists()


def _regression_spec(schedule, loss=None):
    import torch

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])

    def batches(epoch):
        for i in range(0, 64, 16):
            yield {"x": x[i:i + 16], "y": y[i:i + 16]}

    def mse(model, batch):
        return ((model(batch["x"]).squeeze(-1) - batch["y"]) ** 2).mean()

    return LoopSpec(train_batches=batches, steps_per_epoch=4, loss=loss or mse, peft_task=None, schedule=schedule)


def test_schedule_and_loss_hook_are_the_loops_extension_points():
    """``schedule`` sets the learning-rate curve the loop reports per step; a loss hook replaces the
    loss of every micro-batch and is accumulated like the default one."""
    import torch

    from autoglm_core.training import listeners

    class Steps:
        def __init__(self):
            self.lr, self.loss = [], []

        def on_train_step(self, step, values):
            self.lr.append(values["learning_rate"])
            self.loss.append(values["train_loss"])

    cfg = TrainConfig(epochs=3, learning_rate=0.05, warmup_ratio=0.0, weight_decay=0.0)
    seen = {}
    for schedule in ("constant", "linear"):
        seen[schedule] = Steps()
        listeners.add_listener(seen[schedule])
        try:
            torch.manual_seed(0)
            run_loop(torch.nn.Linear(4, 1), _regression_spec(schedule), cfg, device="cpu", progress=False)
        finally:
            listeners.remove_listener(seen[schedule])
    assert seen["constant"].lr == [0.05] * 12
    assert seen["linear"].lr == sorted(seen["linear"].lr, reverse=True) and seen["linear"].lr[-1] == 0.0
    assert seen["constant"].loss[-1] < seen["constant"].loss[0] / 2  # it learns

    calls = []

    def hook(model, batch):
        calls.append(len(batch["x"]))
        return model(batch["x"]).abs().mean()

    res = run_loop(torch.nn.Linear(4, 1), _regression_spec("constant", hook),
                   cfg.model_copy(update={"gradient_accumulation_steps": 2}), device="cpu", progress=False)
    assert calls == [16] * 12 and res.steps == 6  # every micro-batch through the hook, 2 per optimizer step
