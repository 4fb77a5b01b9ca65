"""Data loading: formats, encodings, unusable rows by line, bad files, labels, stratified splits."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from autoglm_core.builtin.parser import parse_description
from autoglm_core.data.load import load_file, load_splits, stratified_split
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, write_csv
from autoglm_core.types.errors import DataError
from autoglm_core.types.schemas import DataRef, SplitConfig


def load(path, **ref):
    return load_file(path, DataRef(path=str(path), **ref), get_manager())


def test_csv_with_auto_detected_columns_and_bad_rows_reported_by_line(tmp_path):
    p = tmp_path / "news.csv"
    p.write_text('id,headline,sentiment\n1,"Profit rose, strongly",positive\n2,,negative\n3,Shares fell\n'
                 '4,Board met,neutral\n\n5,Sales up,\n', encoding="utf-8")
    rows = load(p)
    assert (rows.text_column, rows.label_column) == ("headline", "sentiment")
    assert [(e.text, e.label, e.line) for e in rows.examples] == [("Profit rose, strongly", "positive", 2),
                                                                   ("Board met", "neutral", 5)]
    assert [(i.line, i.reason) for i in rows.issues] == [
        (3, "empty 'headline'"), (4, "2 fields where the header has 3"), (7, "missing 'sentiment'")]
    assert rows.rows_read == 5


def test_tsv_jsonl_and_named_columns(tmp_path):
    t = tmp_path / "d.tsv"
    t.write_text("body\ttarget\nGood year\tpos\nBad year\tneg\n", encoding="utf-8")
    assert [e.label for e in load(t).examples] == ["pos", "neg"]
    j = tmp_path / "d.jsonl"
    j.write_text('{"msg": "Up 5%", "y2": "pos"}\nnot json\n{"msg": "Down", "y2": "neg"}\n[1]\n', encoding="utf-8")
    rows = load(j, text_column="msg", label_column="y2")
    assert [e.text for e in rows.examples] == ["Up 5%", "Down"]
    assert [(i.line, i.reason.split(":")[0]) for i in rows.issues] == [(2, "not valid JSON"), (4, "not a JSON object")]
    arr = tmp_path / "a.json"
    arr.write_text(json.dumps([{"text": "x", "label": "a"}, {"text": "y", "label": "b"}]), encoding="utf-8")
    assert len(load(arr).examples) == 2


def test_phrasebank_format_with_latin1_fallback(tmp_path):
    p = tmp_path / "Sentences_50Agree.txt"
    p.write_bytes("Net sales rose to EUR 5 mn .@positive\nThe caf\xe9 closed .@negative\nno label here\n".encode("iso-8859-1"))
    rows = load(p)
    assert rows.encoding == "iso-8859-1"
    assert rows.examples[1].text == "The café closed ." and rows.examples[1].label == "negative"
    assert rows.issues[0].line == 3


@pytest.mark.parametrize("make,match", [
    (lambda d: d / "missing.csv", "does not exist"),
    (lambda d: d, "is a folder"),
    (lambda d: (d / "empty.csv").write_text("") and d / "empty.csv" or d / "empty.csv", "is empty"),
    (lambda d: (d / "bin.csv").write_bytes(b"text,label\n\x00\x01\x02") and d / "bin.csv", "looks binary"),
    (lambda d: (d / "nolabel.csv").write_text("text,author\nhello,me\n") and d / "nolabel.csv", "no label column"),
    (lambda d: (d / "one.csv").write_text("text\nhello\n") and d / "one.csv", "needs a text and a label column"),
    (lambda d: (d / "data.xlsx").write_text("x") and d / "data.xlsx", "no data loader for files ending in '.xlsx'"),
    (lambda d: (d / "blank.csv").write_text("text,label\n,\n , \n") and d / "blank.csv", "no usable rows"),
])
def test_unusable_files_get_errors_naming_them(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(DataError, match=match) as info:
        load(path)
    assert str(path) in str(info.value)


def _fifo(d):
    import os

    os.mkfifo(d / "pipe.csv")
    return d / "pipe.csv"


@pytest.mark.parametrize("make,match", [
    (lambda d: __import__("pathlib").Path("/dev/zero"), r"not a regular file but a character device \(an endless stream"),
    (_fifo, r"not a regular file but a named pipe \(FIFO\)"),
])
def test_devices_and_pipes_are_named_not_called_empty(tmp_path, make, match):
    import time

    path = make(tmp_path)
    if not path.exists():
        pytest.skip(f"{path} does not exist on this system")
    started = time.monotonic()
    with pytest.raises(DataError, match=match) as info:
        load(path)
    assert str(path) in str(info.value) and "empty" not in str(info.value)
    assert time.monotonic() - started < 10  # refused from its file type, never read


@pytest.mark.parametrize("name,content,match", [
    ("dup.csv", "text,label,label\nProfit rose,positive,negative\n",
     r"dup.csv: line 1: the header names 'label' more than once"),
    ("dup.tsv", "text\tlabel\ttext\nProfit rose\tpositive\tother\n",
     r"dup.tsv: line 1: the header names 'text' more than once"),
    ("dup.jsonl", '{"text": "Profit rose", "label": "positive"}\n{"text": "Sales fell", "label": "a", "label": "b"}\n',
     r"dup.jsonl: line 2: duplicate key 'label' in one object"),
    ("dup.json", '[{"text": "Profit rose", "label": "positive", "label": "negative"}]',
     r"dup.json: duplicate key 'label' in one object"),
])
def test_duplicate_column_names_are_refused_not_last_one_wins(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        load(path)


def test_wrong_column_name_lists_the_columns(tmp_path):
    p = write_csv(tmp_path / "d.csv", sample_examples(6))
    with pytest.raises(DataError, match=r"label column 'lbl' is not in the header; columns are \['text', 'label'\]"):
        load(p, label_column="lbl")


def test_stratified_split_is_deterministic_and_proportional():
    ex = sample_examples(300)
    a = stratified_split(ex, SplitConfig(), seed=0)
    b = stratified_split(ex, SplitConfig(), seed=0)
    c = stratified_split(ex, SplitConfig(), seed=1)
    assert [e.line for e in a[2]] == [e.line for e in b[2]]
    assert [e.line for e in a[2]] != [e.line for e in c[2]]
    assert (len(a[0]), len(a[1]), len(a[2])) == (240, 30, 30)
    assert Counter(e.label for e in a[2]) == {"positive": 10, "negative": 10, "neutral": 10}
    assert not {e.line for e in a[0]} & {e.line for e in a[2]}


def test_labels_unknown_to_the_spec_are_an_error_naming_the_line(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("text,label\nup,positive\ndown,negative\nmeh,mixed\n", encoding="utf-8")
    spec = parse_description("Classify news", {"labels": ["positive", "negative"], "data": str(p)})
    with pytest.raises(DataError, match=r"'mixed' first at .*d.csv:4"):
        load_splits(spec, SplitConfig(), 0, get_manager())


def test_parsed_labels_disjoint_from_the_data_yield_to_the_data(tmp_path):
    p = write_csv(tmp_path / "d.csv", sample_examples(30))
    spec = parse_description("判断评论是有趣还是无聊", {"data": str(p)})
    splits = load_splits(spec, SplitConfig(), 0, get_manager())
    assert splits.labels == ["negative", "neutral", "positive"]
    assert any("using the data's labels" in n for n in splits.notes)
    # words the bilingual table knows are matched instead: the description's order, the data's words
    spec = parse_description("判断评论是好评还是差评", {"data": str(p)})
    splits = load_splits(spec, SplitConfig(), 0, get_manager())
    assert splits.labels == ["positive", "negative", "neutral"]
    assert any("'好评' -> 'positive' (bilingual table)" in n for n in splits.notes)


def test_user_given_splits_carve_validation_from_train(tmp_path):
    tr = write_csv(tmp_path / "train.csv", sample_examples(90, seed=1))
    te = write_csv(tmp_path / "test.csv", sample_examples(12, seed=2))
    spec = parse_description("Classify news", {"data": {"train": str(tr), "test": str(te)}})
    splits = load_splits(spec, SplitConfig(), 0, get_manager())
    assert len(splits.test) == 12
    assert len(splits.validation) > 0 and len(splits.train) + len(splits.validation) == 90
    assert splits.summary.files == [str(tr), str(te)]
