"""`autoglm generate`: decoders from the command line, streaming, clear errors."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from autoglm_core.cli.main import main  # noqa: E402


@pytest.fixture(scope="module")
def saved_lm(tmp_path_factory):
    from autoglm_core.models.tiny import tiny_gpt2_lm

    model, tok = tiny_gpt2_lm(["the quick brown fox jumps over the lazy dog"] * 4, vocab_size=300, n_positions=64)
    out = tmp_path_factory.mktemp("lm")
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out, model, tok


@pytest.mark.parametrize("decoder", ["greedy", "beam", "sample"])
def test_generate_matches_the_decoder(saved_lm, decoder, capsys):
    from autoglm_core.models.decoding.text import generate_text

    path, model, tok = saved_lm
    extra = ["--seed", "3"] if decoder == "sample" else []
    assert main(["generate", str(path), "the quick", "--decoder", decoder, "--max-new-tokens", "6", *extra]) == 0
    printed = capsys.readouterr().out
    opts = {"seed": 3} if decoder == "sample" else {}
    expected = generate_text(model.eval(), tok, ["the quick"], decoder, max_new_tokens=6, **opts)[0]
    assert printed == "the quick" + expected + "\n"


def test_stream_prints_the_same_text(saved_lm, capsys):
    path, _, _ = saved_lm
    assert main(["generate", str(path), "the quick", "--max-new-tokens", "6"]) == 0
    plain = capsys.readouterr().out
    assert main(["generate", str(path), "the quick", "--max-new-tokens", "6", "--stream"]) == 0
    assert capsys.readouterr().out == plain


@pytest.mark.parametrize(("argv", "message"), [
    (["--max-new-tokens", "0"], "max_new_tokens"),
    (["--decoder", "sample", "--top-p", "1.5"], "top_p"),
    (["--decoder", "beam", "--num-beams", "0"], "num_beams"),
    (["--decoder", "beem"], "Did you mean 'beam'"),
    (["--max-new-tokens", "100"], "context of 64 tokens"),
])
def test_bad_arguments_exit_2_with_one_paragraph(saved_lm, capsys, argv, message):
    path, _, _ = saved_lm
    assert main(["generate", str(path), "the quick", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_not_a_model_directory(tmp_path, capsys):
    assert main(["generate", str(tmp_path), "x"]) == 2
    assert "not a model directory" in capsys.readouterr().err
