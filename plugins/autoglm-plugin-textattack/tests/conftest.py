import pytest


@pytest.fixture(scope="session")
def textattack_trained_tiny():
    """(BuiltModel, context) of a tiny BERT trained on the synthetic English sentences (~10 s)."""
    from autoglm_core.testing import sample_examples, trained_classifier_and_context

    return trained_classifier_and_context(sample_examples(120))
