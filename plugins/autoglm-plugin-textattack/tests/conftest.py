from autoglm_core.testing import use_offline_env

use_offline_env()  # before anything imports transformers


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def textattack_trained_tiny():
    """(BuiltModel, context) of a tiny BERT trained on the synthetic English sentences (~10 s)."""
    from autoglm_core.testing import sample_examples, tiny_text_classifier
    from autoglm_core.training.finetune import fine_tune
    from autoglm_core.types.data import DataSplits
    from autoglm_core.types.schemas import TrainConfig

    examples = sample_examples(120)
    built = tiny_text_classifier(texts=[ex.text for ex in examples])
    cfg = TrainConfig(epochs=8, batch_size=16, max_length=32, learning_rate=5e-3, patience=8)
    train, val, test = examples[:72], examples[72:96], examples[96:]
    built.model = fine_tune(built.model, built.tokenizer, train, val, built.labels, cfg, progress=False).model
    from autoglm_core import RunContext

    ctx = RunContext.standalone(splits=DataSplits(train, val, test, built.labels, None), train=cfg)
    return built, ctx
