import pytest

from autoglm_core.testing import trained_classifier_and_context


@pytest.fixture(scope="session")
def fgsm_trained_tiny():
    """(BuiltModel, context) of a tiny BERT trained on the synthetic English sentences (~10 s)."""
    from autoglm_core.testing import sample_examples

    return trained_classifier_and_context(sample_examples(120))


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
    return trained_classifier_and_context(out)
