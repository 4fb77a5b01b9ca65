"""Fuzzing the parts that read user input: the description parser, config files and the data
readers. Whatever the input, the answer is a result or one of the project's own errors (which the
CLI prints as one paragraph, exit 2), never another exception."""

from __future__ import annotations

import json
import math

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the test extra: pip install -e '.[test]'")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from autoglm_core.builtin.parser import parse_description  # noqa: E402
from autoglm_core.data.load import load_file, load_splits  # noqa: E402
from autoglm_core.io import read_structured_file  # noqa: E402
from autoglm_core.io.pipeline_config import read_pipeline_config  # noqa: E402
from autoglm_core.plugin.manager import get_manager  # noqa: E402
from autoglm_core.types.errors import AutoGLMError  # noqa: E402
from autoglm_core.types.schemas import DataRef, PipelineConfig, SplitConfig, TaskSpec, validate  # noqa: E402

# A fresh plugin manager per example would dominate the run time; tmp files are overwritten.
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text that looks like the real thing more often than uniform noise does.
WORDS = st.sampled_from(["classify", "news", "positive", "negative", "neutral", "情感", "正面", "负面", "：", "、",
                         ",", "'", '"', "\n", "\t", "ms", "10", "robust", "latency", "under", "labels", "@", "é",
                         "\x00", "\ufeff", "{", "}", "[", "]", ":", "-", " ", "1e400", "NaN"])
TEXTISH = st.one_of(st.text(max_size=200), st.lists(WORDS, max_size=40).map("".join))


def _only_own_errors(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except AutoGLMError:
        return None


@pytest.mark.slow
@FUZZ
@given(TEXTISH)
def test_parser_never_raises_anything_but_its_own_errors(text):
    spec = _only_own_errors(parse_description, text)
    if spec is not None:
        assert spec.task_type and json.loads(spec.model_dump_json())  # a valid, serialisable spec


@FUZZ
@given(st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=50), st.lists(st.text(max_size=5), max_size=3)))
def test_parser_non_text_input(value):
    _only_own_errors(parse_description, value)


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10))
CONFIG_KEYS = st.sampled_from(["seed", "train", "epochs", "learning_rate", "batch_size", "max_length", "evaluate",
                               "latency_batch_sizes", "compress", "attack", "name", "options", "split", "test",
                               "lora", "r", "search", "space", "trials", "device", "zero_shot", "enabled", "x"])
JSONISH = st.recursive(JSON_SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                            st.dictionaries(CONFIG_KEYS, kids, max_size=5)),
                       max_leaves=20)


@FUZZ
@given(st.dictionaries(CONFIG_KEYS, JSONISH, max_size=6))
def test_config_validation_only_raises_config_errors(data):
    cfg = _only_own_errors(validate, PipelineConfig, data, source="fuzz.yaml")
    if cfg is not None:  # anything accepted is finite and within 64 bits
        for v in (cfg.seed, cfg.train.batch_size, cfg.train.max_length, *cfg.evaluate.latency_batch_sizes):
            assert 0 <= v < 2**32
        assert cfg.train.learning_rate is None or math.isfinite(cfg.train.learning_rate)


YAMLISH = st.lists(st.sampled_from(["seed: 1", "train:", "  epochs: 2", "  epochs: 3", "  learning_rate: .inf",
                                    "- a", "[", "]", "{", "}", "&a x", "*a", "<<: *a", "? [1]", ": 2", "'", '"',
                                    "\t", "key: value", "evaluate: {latency_batch_sizes: [0, -5]}", "!!python/object",
                                    "---", "...", "%YAML 1.1", "\x00", "\xff", "é: ü"]), max_size=12).map("\n".join)


@FUZZ
@given(st.one_of(YAMLISH.map(lambda s: s.encode("utf-8", "surrogatepass")), st.binary(max_size=200)),
       st.sampled_from([".yaml", ".json"]))
def test_config_files_only_raise_config_errors(tmp_path, raw, suffix):
    path = tmp_path / f"c{suffix}"
    path.write_bytes(raw)
    _only_own_errors(read_pipeline_config, path)


@pytest.mark.parametrize("text", ["[" * 20_000, "a: " + "[" * 5_000 + "]" * 5_000, '{"a":' * 20_000,
                                  '{"seed": ' + "9" * 5000 + "}"])
def test_deeply_nested_or_huge_numbers_in_config_are_config_errors(tmp_path, text):
    # Before: RecursionError / ValueError tracebacks from json.loads.
    for suffix in (".json", ".yaml"):
        path = tmp_path / f"deep{suffix}"
        path.write_text(text)
        with pytest.raises(AutoGLMError):
            read_structured_file(path)


def test_deep_or_huge_json_rows_are_skipped_with_their_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "good", "label": "a"}\n' + "[" * 5000 + "\n" + '{"text": "x", "label": ' + "7" * 5000
                    + '}\n{"text": "bad", "label": "b"}\n')
    rows = load_file(path, DataRef(path=str(path)), get_manager())
    assert [i.line for i in rows.issues] == [2, 3] and "nested too deeply" in rows.issues[0].reason
    arr = tmp_path / "a.json"
    arr.write_text("[" * 5000)
    with pytest.raises(AutoGLMError, match="nested too deeply"):
        load_file(arr, DataRef(path=str(arr)), get_manager())


ROWISH = st.lists(st.sampled_from(["text,label", "text\tlabel", '{"text": "a", "label": "b"}', "good news,positive",
                                   "bad news,negative", "so so,neutral", '"unclosed,positive', "a,b,c", "", ",",
                                   "Le caf\xe9,negative", "利润增长,正面", "sentence@positive", "x@", "@y", "[1]",
                                   '{"text": 1}', "null", "\x00", "\ufefftext,label", '"a""b",x', "[" * 2000]),
                  max_size=25).map("\n".join)
ENCODED = st.one_of(
    st.tuples(ROWISH, st.sampled_from(["utf-8", "iso-8859-1", "gb18030", "utf-16"])).map(
        lambda t: t[0].encode(t[1], errors="replace")),
    st.binary(max_size=300),
)


@FUZZ
@given(ENCODED, st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".txt"]),
       st.sampled_from([None, "utf-8", "latin-1", "utf-16", "no-such-codec"]))
def test_data_readers_only_raise_data_errors(tmp_path, raw, suffix, encoding):
    path = tmp_path / f"d{suffix}"
    path.write_bytes(raw)
    ref = DataRef(path=str(path), encoding=encoding)
    loaded = _only_own_errors(load_file, path, ref, get_manager())
    if loaded is not None:
        assert loaded.examples and all(ex.text and "\x00" not in ex.text for ex in loaded.examples)
        spec = TaskSpec(task_type="text_classification", data=ref)
        _only_own_errors(load_splits, spec, SplitConfig(), 0, get_manager())


JSON_PIECES = st.lists(st.sampled_from(["[", "]", "{", "}", '"', '\\"', ":", ",", "1", "9" * 1500, "-", ".", "e5",
                                        '"k"', "null", "true", "[" * 70, "]" * 70, " "]), max_size=30).map("".join)


@FUZZ
@given(JSON_PIECES)
def test_json_within_the_limits_only_fails_as_a_syntax_error(text):
    from autoglm_core.io.json_limits import JSONLimitError, check_json_limits

    try:
        check_json_limits(text)
    except JSONLimitError:
        return
    try:
        json.loads(text)
    except json.JSONDecodeError:
        pass


def test_json_limits_accept_ordinary_documents():
    from autoglm_core.io.json_limits import check_json_limits

    check_json_limits(json.dumps({"texts": ['a [ string { with ] brackets " and quotes'] * 3, "n": 10**50,
                                  "x": 1.5e300, "deep": [[[[1]]]]}))
    check_json_limits('{"long float": 1.' + "0" * 5000 + ', "exp": 1e' + "9" * 2000 + "}")  # floats are bounded
