from autoglm_core.testing import use_offline_env

use_offline_env()  # before anything imports transformers


import pytest  # noqa: E402


def _train_tiny(examples, lr=5e-3, epochs=8):
    from autoglm_core.testing import tiny_text_classifier
    from autoglm_core.training.finetune import fine_tune
    from autoglm_core.types.schemas import TrainConfig

    labels = sorted({ex.label for ex in examples})
    built = tiny_text_classifier(labels=labels, texts=[ex.text for ex in examples])
    cfg = TrainConfig(epochs=epochs, batch_size=16, max_length=32, learning_rate=lr, patience=epochs)
    n = len(examples)
    train, val, test = examples[: int(n * 0.6)], examples[int(n * 0.6): int(n * 0.8)], examples[int(n * 0.8):]
    built.model = fine_tune(built.model, built.tokenizer, train, val, labels, cfg, progress=False).model
    from autoglm_core import RunContext
    from autoglm_core.types.data import DataSplits

    ctx = RunContext.standalone(splits=DataSplits(train, val, test, labels, None), train=cfg)
    return built, ctx


@pytest.fixture(scope="session")
def fgsm_trained_tiny():
    """(BuiltModel, context) of a tiny BERT trained on the synthetic English sentences (~10 s)."""
    from autoglm_core.testing import sample_examples

    return _train_tiny(sample_examples(120))


@pytest.fixture(scope="session")
def fgsm_trained_chinese():
    """A tiny BERT trained on synthetic Chinese hotel reviews (positive/negative)."""
    import random

    from autoglm_core.types.data import Example

    rng = random.Random(0)
    pos = ["服务很好", "房间干净", "早餐好吃", "位置方便", "环境安静", "前台热情"]
    neg = ["服务很差", "房间很脏", "早餐难吃", "位置偏僻", "环境吵闹", "前台冷漠"]
    places = ["这家酒店", "我们住的宾馆", "这次的酒店", "那家旅馆"]
    out = []
    for i in range(96):
        label = "positive" if i % 2 else "negative"
        pool = pos if label == "positive" else neg
        text = f"{rng.choice(places)}{rng.choice(pool)}，{rng.choice(pool)}。"
        out.append(Example(text=text, label=label, file="<zh>", line=i + 1))
    return _train_tiny(out)
