"""Bad input gives one clear AutoGLMError paragraph naming what is wrong."""

import shutil
import warnings

import pytest

from autoglm_core import hookimpl
from autoglm_core.types.errors import AutoGLMError, ConfigError, DataError, ModelLoadError


def _evaluator(**options):
    from autoglm_core.plugin.manager import get_manager

    return get_manager().registry("evaluator").get("lm-eval")(options=options)


@pytest.mark.hook("autoglm_register_benchmarks")
def test_lmeval_missing_data_names_the_file(tmp_path, lmeval_tiny_lm_dir):
    from autoglm_core.plugin.components import Benchmark
    from autoglm_core.plugin.manager import get_manager

    bench = tmp_path / "broken"
    bench.mkdir()
    (bench / "broken.yaml").write_text(
        "task: autoglm_broken_task\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        "    test: data/not_there.jsonl\ntest_split: test\noutput_type: multiple_choice\n"
        "doc_to_text: '{{q}}'\ndoc_to_choice: ['a', 'b']\ndoc_to_target: 0\n")

    class BrokenBenchmarkPlugin:
        @hookimpl
        def autoglm_register_benchmarks(self, register):
            register(Benchmark(name="broken", path=str(bench)))

    get_manager().register(BrokenBenchmarkPlugin(), name="broken-bench")
    with pytest.raises(DataError) as e:
        _evaluator(tasks=["autoglm_broken_task"], limit=2).evaluate(str(lmeval_tiny_lm_dir), None)
    msg = str(e.value)
    assert "autoglm_broken_task" in msg
    assert str(bench / "data" / "not_there.jsonl") in msg
    assert "HF_DATASETS_OFFLINE" in msg


def test_lmeval_tokenizer_without_eos_is_fixed_up(lmeval_tiny_lm, lmeval_tiny_lm_dir, tmp_path):
    """No EOS: lm-eval would fail; we use an existing special token (here pad = the old EOS id), say
    so, and get exactly the numbers of the same model with its EOS token."""
    from transformers import PreTrainedTokenizerFast

    _, tok = lmeval_tiny_lm
    no_eos = tmp_path / "no-eos"
    shutil.copytree(lmeval_tiny_lm_dir, no_eos)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (no_eos / f).unlink(missing_ok=True)
    bare = PreTrainedTokenizerFast(tokenizer_object=tok.backend_tokenizer, pad_token="<|endoftext|>")
    assert bare.eos_token is None
    bare.save_pretrained(no_eos)

    ev = _evaluator(tasks=["autoglm_example_mc"], limit=6, cache_dir=str(tmp_path / "c"))
    with pytest.warns(UserWarning, match=r"no EOS token; lm-eval uses its pad_token '<\|endoftext\|>' as EOS"):
        fixed = ev.evaluate(str(no_eos), None)
    assert "pad_token" in ev.last_result.notes[0]
    reference = _evaluator(tasks=["autoglm_example_mc"], limit=6).evaluate(str(lmeval_tiny_lm_dir), None)
    assert fixed == reference


def test_lmeval_tokenizer_without_any_special_token_explained(lmeval_tiny_lm, lmeval_tiny_lm_dir, tmp_path):
    from transformers import PreTrainedTokenizerFast

    _, tok = lmeval_tiny_lm
    bare_dir = tmp_path / "bare"
    shutil.copytree(lmeval_tiny_lm_dir, bare_dir)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (bare_dir / f).unlink(missing_ok=True)
    PreTrainedTokenizerFast(tokenizer_object=tok.backend_tokenizer).save_pretrained(bare_dir)
    with pytest.raises(ModelLoadError, match=r"no EOS token and no other special token.*add_special_tokens"):
        _evaluator(tasks=["autoglm_example_mc"]).evaluate(str(bare_dir), None)


def test_lmeval_classifier_is_not_a_causal_lm(tmp_path):
    from autoglm_core.models.tiny import tiny_bert_classifier
    from autoglm_core.plugin.components import BuiltModel

    model, tok = tiny_bert_classifier(["neg", "pos"], ["good film", "bad film"] * 5, vocab_size=60)
    built = BuiltModel(model=model, tokenizer=tok, labels=["neg", "pos"], task_type="text_classification")
    with pytest.raises(ModelLoadError, match=r"BertForSequenceClassification, not a causal .*generation"):
        _evaluator(tasks=["autoglm_example_gen"]).evaluate(built, None)
    # a bare HF directory without autoglm metadata is recognised by its architecture too
    d = tmp_path / "clf"
    model.save_pretrained(d)
    tok.save_pretrained(d)
    with pytest.raises(ModelLoadError, match="not a causal"):
        _evaluator(tasks=["autoglm_example_gen"]).evaluate(str(d), None)


def test_lmeval_model_dir_problems(tmp_path, lmeval_tiny_lm_dir):
    with pytest.raises(ModelLoadError, match="does not exist"):
        _evaluator(tasks=["x"]).evaluate(str(tmp_path / "missing"), None)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(lmeval_tiny_lm_dir / "config.json", pickled)
    (pickled / "pytorch_model.bin").write_bytes(b"not really")
    with pytest.raises(ModelLoadError, match="pickle weights"):
        _evaluator(tasks=["x"]).evaluate(str(pickled), None)


def test_lmeval_options_and_cli_arguments_checked(capsys):
    from autoglm_core.cli.main import main

    with pytest.raises(AutoGLMError, match="batch_sise"):
        _evaluator(tasks=["autoglm_example_mc"], batch_sise=2)
    with pytest.raises(AutoGLMError, match="tasks"):
        _evaluator(tasks=[])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["eval", "somewhere", "--benchmark", "autoglm_example_mc", "--batch-size", "lots"])
    assert rc == 2
    assert "--batch-size must be a positive integer or 'auto'" in capsys.readouterr().err


def test_lmeval_compressed_variant_refused():
    from autoglm_core.plugin.components import BuiltModel

    built = BuiltModel(model=None, tokenizer=None, labels=[], task_type="text_generation", format="int8",
                       variant="int8")
    with pytest.raises(ConfigError, match="format 'int8'"):
        _evaluator(tasks=["autoglm_example_mc"]).evaluate(built, None)


@pytest.mark.slow
def test_lmeval_unknown_task_through_evaluator(lmeval_tiny_lm_dir):
    with pytest.raises(AutoGLMError, match="Did you mean 'autoglm_example_gen'"):
        _evaluator(tasks=["autoglm_example_gne"]).evaluate(str(lmeval_tiny_lm_dir), None)


