"""The code assistant: syntax check with retry on the next candidate, tests in the sandbox."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from autoglm_core.plugin.components import Decoder  # noqa: E402
from autoglm_core.tasks.code_generation.assistant import CodeAssistant, syntax_error, truncate_completion  # noqa: E402

REQUEST = "def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n"
TESTS = "def check(f):\n    assert f(2, 3) == 5\n    assert f(-1, 1) == 0\n"


@pytest.fixture(scope="module")
def lm():
    from autoglm_core.models.tiny import tiny_gpt2_lm

    corpus = [REQUEST + "    return a + b\n", "def f(x):\n    return x * 2\n", "    return a - b\n(("] * 4
    model, tok = tiny_gpt2_lm(corpus, vocab_size=300, n_positions=128)
    return model.eval(), tok


class Scripted(Decoder):
    """Returns fixed completions as if they were beams (best first)."""

    name = "scripted"

    def __init__(self, tokenizer, completions):
        super().__init__()
        self.tok, self.completions = tokenizer, completions

    def decode(self, model, input_ids, attention_mask=None, **kwargs):
        rows = [input_ids[0].tolist() + self.tok(c)["input_ids"] for c in self.completions]
        width = max(map(len, rows))
        pad = self.tok.pad_token_id
        return torch.tensor([r + [pad] * (width - len(r)) for r in rows])


def test_syntax_helpers():
    assert syntax_error("x = 1\n") is None
    assert "line 1" in syntax_error("def (:\n")
    assert truncate_completion("    return 1\ndef other():\n    pass") == "    return 1"


def test_retries_past_syntax_errors_and_failing_tests(lm):
    model, tok = lm
    dec = Scripted(tok, ["    return (a +\n", "    return a - b\n", "    return a + b\n"])
    result = CodeAssistant(model, tok, dec).generate(REQUEST, tests=TESTS, entry_point="add")
    assert [a.syntax_error is None for a in result.attempts] == [False, True, True]
    assert result.attempts[1].test is not None and not result.attempts[1].test.passed
    assert result.code == REQUEST + "    return a + b\n" and result.tests_passed is True


def test_without_tests_first_parsable_candidate_wins(lm):
    model, tok = lm
    dec = Scripted(tok, ["    return (a +\n", "    return a - b\n", "    return a + b\n"])
    result = CodeAssistant(model, tok, dec).generate(REQUEST)
    assert result.code == REQUEST + "    return a - b\n" and result.tests_passed is None
    assert len(result.attempts) == 2


def test_no_parsable_candidate(lm):
    model, tok = lm
    result = CodeAssistant(model, tok, Scripted(tok, ["    return (\n", "  ]]\n"])).generate(REQUEST)
    assert result.code is None and not result.syntax_ok and len(result.attempts) == 2


def test_generated_code_that_loops_is_killed(lm):
    model, tok = lm
    dec = Scripted(tok, ["    while True:\n        pass\n"])
    result = CodeAssistant(model, tok, dec, timeout_s=1.0).generate(REQUEST, tests=TESTS, entry_point="add")
    assert result.attempts[0].test.status == "timeout" and result.tests_passed is False


@pytest.mark.parametrize("decoder", ["beam", "sample", "greedy"])
def test_real_decoders_produce_candidates(lm, decoder):
    model, tok = lm
    assistant = CodeAssistant(model, tok, decoder, num_candidates=3, max_new_tokens=12,
                              decoder_options={"seed": 0} if decoder == "sample" else None)
    cands = assistant.candidates(REQUEST)
    assert len(cands) == (1 if decoder == "greedy" else 3)
    result = assistant.generate(REQUEST, tests=TESTS, entry_point="add")
    assert 1 <= len(result.attempts) <= len(cands)
    for a in result.attempts:
        assert a.code.startswith(REQUEST)
        assert (a.syntax_error is None) == (syntax_error(a.code) is None)
