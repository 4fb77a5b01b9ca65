"""Token classification (NER): CoNLL and JSONL data, bad data named by file and line, IOB1-style
starts, first-subword label alignment, entity-level scores against seqeval, the parser, and the
pipeline end to end with `autoglm predict` printing entity spans."""

from __future__ import annotations

import json
import random

import pytest

from autoglm_core.tasks.token_classification.data import read_ner_file, tag_set, to_examples
from autoglm_core.tasks.token_classification.metrics import entity_scores, spans
from autoglm_core.tasks.token_classification.model import IGNORE, align_labels, encode, words_of
from autoglm_core.types.errors import DataError

CONLL = "-DOCSTART- O\n\nEU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\nPeter B-PER\nBlackburn I-PER\n"


def test_conll_and_jsonl_give_the_same_sentences(tmp_path):
    conll = tmp_path / "a.conll"
    conll.write_text(CONLL, encoding="utf-8")
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("\n".join(json.dumps({"tokens": s.tokens, "tags": s.tags})
                               for s in read_ner_file(conll).sentences), encoding="utf-8")
    a, b = read_ner_file(conll), read_ner_file(jsonl)
    assert [(s.tokens, s.tags) for s in a.sentences] == [(s.tokens, s.tags) for s in b.sentences]
    assert [s.tokens for s in a.sentences] == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]
    assert [s.line for s in a.sentences] == [3, 8] and not a.warnings
    examples = to_examples(a)
    assert examples[1].text == "Peter Blackburn" and examples[1].line == 8
    assert tag_set(examples) == ["O", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


@pytest.mark.parametrize(("name", "text", "pattern"), [
    ("notag.conll", "Paris B-LOC\nis\n", r"notag.conll:2: 'is' has no tag"),
    ("badtag.conll", "Paris B-LOC\n\nis X-LOC\n", r"badtag.conll:3: tag 'X-LOC' is not in the BIO scheme"),
    ("lower.conll", "Paris b-loc\n", r"lower.conll:1: tag 'b-loc'"),
    ("len.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n',
     r"len.jsonl:2: 2 tokens but 1 tags"),
    ("obj.jsonl", '["a", "O"]\n', r"obj.jsonl:1: expected an object with 'tokens' and 'tags'"),
])
def test_bad_data_names_the_file_and_line(tmp_path, name, text, pattern):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=pattern):
        read_ner_file(path)


def test_bad_data_on_the_command_line_exits_2_without_a_traceback(tmp_path, capsys):
    from autoglm_core.cli.main import main

    path = tmp_path / "bad.conll"
    path.write_text("Paris B-LOC\nParis\n", encoding="utf-8")
    code = main(["run", "find person, organisation and location names", "--data", str(path), "--out",
                 str(tmp_path / "run"), "--backbone", "tiny-bert"])
    err = capsys.readouterr().err
    assert code == 2 and "bad.conll:2" in err and "Traceback" not in err


def test_an_iob1_style_start_is_an_entity_with_one_warning(tmp_path):
    from seqeval.metrics.sequence_labeling import get_entities

    path = tmp_path / "iob1.conll"
    path.write_text("the O\nUN I-ORG\nsaid O\n\nin O\nNew I-LOC\nYork I-LOC\nand O\nLA I-LOC\n", encoding="utf-8")
    f = read_ner_file(path)
    assert len(f.warnings) == 1 and "3 entity(ies) start with I-" in f.warnings[0] and "line 2: I-ORG" in f.warnings[0]
    tags = [s.tags for s in f.sentences]
    assert spans(tags[0]) == [("ORG", 1, 1)] and spans(tags[1]) == [("LOC", 1, 2), ("LOC", 4, 4)]
    assert [spans(t) for t in tags] == [get_entities(t) for t in tags]


def test_spans_and_scores_agree_with_seqeval_and_with_hand_counts():
    from seqeval.metrics import f1_score
    from seqeval.metrics.sequence_labeling import get_entities

    rng = random.Random(0)
    pool = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG"]
    seqs = [[rng.choice(pool) for _ in range(rng.randint(1, 12))] for _ in range(300)]
    for s in seqs:  # our own span reader (predict output, data summary) reads entities as seqeval does
        assert spans(s) == get_entities(s), s
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    m = entity_scores(gold, pred)  # 3 gold entities, 3 predicted, 2 exact matches
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3) and m["token_accuracy"] == pytest.approx(5 / 6)
    assert m["per_type"]["ORG"]["precision"] == 0.5 and m["per_type"]["LOC"]["recall"] == 0.0
    # a boundary error is a miss and a false alarm, not half a hit
    m = entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
    # counting from our spans gives seqeval's micro F1 on random predictions too
    gold, pred = seqs[:150], seqs[150:]
    pred = [(p + ["O"] * len(g))[: len(g)] for g, p in zip(gold, pred, strict=True)]
    g_ents = {(i, *e) for i, s in enumerate(gold) for e in spans(s)}
    p_ents = {(i, *e) for i, s in enumerate(pred) for e in spans(s)}
    hit = len(g_ents & p_ents)
    ours = 2 * hit / (len(g_ents) + len(p_ents))
    assert entity_scores(gold, pred)["f1"] == pytest.approx(ours) == pytest.approx(f1_score(gold, pred))


def test_only_the_first_subword_of_a_word_is_labelled():
    from autoglm_core.models.tiny import train_wordpiece_tokenizer

    assert align_labels([None, 0, 0, 1, None], [3, 5]) == [IGNORE, 3, IGNORE, 5, IGNORE]
    # only characters in the vocabulary: every word becomes one piece per character
    tok = train_wordpiece_tokenizer(["b l a c k u r n s i d"], vocab_size=60)
    words, tags = ["Blackburn", "said"], ["B-PER", "O"]
    f = encode(tok, [words], [tags], {"O": 0, "B-PER": 1}, max_length=64)[0]
    enc = tok(words, is_split_into_words=True)
    assert len(f["labels"]) == len(enc["input_ids"]) > 4
    labelled = [(i, y) for i, y in enumerate(f["labels"]) if y != IGNORE]
    assert [y for _, y in labelled] == [1, 0]
    assert [enc.word_ids()[i] for i, _ in labelled] == [0, 1]  # each word's first subword
    assert words_of("Mary Jones, of Nokia.") == [("Mary", 0, 4), ("Jones", 5, 10), (",", 10, 11), ("of", 12, 14),
                                                 ("Nokia", 15, 20), (".", 20, 21)]


@pytest.mark.parametrize("description", ["find person, organisation and location names",
                                         "命名实体识别：人名、地名、机构名", "Named entity recognition for news"])
def test_the_parser_recognises_ner_through_the_task_type_rules(description):
    from autoglm_core.builtin.parser import parse_description

    spec = parse_description(description)
    assert (spec.task_type, spec.metric, spec.labels) == ("token_classification", "f1", [])
    assert parse_description("Classify news sentiment").task_type == "text_classification"


def toy_conll(path, n, seed):
    rng = random.Random(seed)
    people, orgs, places = ["John Smith", "Mary Jones", "Ann Lee"], ["Acme Corp", "Nokia", "Reuters"], ["Paris", "Oslo"]
    lines = []
    for _ in range(n):
        for words, typ in ((rng.choice(people), "PER"), ("works for", ""), (rng.choice(orgs), "ORG"), ("in", ""),
                           (rng.choice(places), "LOC"), (".", "")):
            lines += [f"{w} {('B-' if j == 0 else 'I-') + typ if typ else 'O'}" for j, w in enumerate(words.split())]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.mark.slow
def test_pipeline_trains_on_the_shared_loop_and_predict_prints_entity_spans(tmp_path, capsys):
    from autoglm_core import AutoTask
    from autoglm_core.cli.main import main

    data = toy_conll(tmp_path / "toy.conll", 60, 0)
    task = AutoTask.create(task_type=None, dataset=str(data), out=tmp_path / "run", backbones=["tiny-bert"],
                           description="find person, organisation and location names",
                           config={"train": {"epochs": 6, "batch_size": 8},
                                   "evaluate": {"latency_repeats": 1, "latency_batch_sizes": [1], "latency_examples": 2}})
    assert task.spec.task_type == "token_classification"
    report = task.auto_build().launch(progress=False)
    best = report.best
    assert best.metrics["f1"] >= 0.8 and set(best.per_class) == {"PER", "ORG", "LOC"}
    train = next(s for s in report.stages if s.stage == "train").metrics
    assert train["stop_reason"] in ("epochs", "early_stopping") and "val_f1" in train["history"][0]
    # held-out scores of the kept epoch, what selection reads
    kept = next(r for r in train["history"] if r["epoch"] == train["best_epoch"])
    assert best.metrics["val_f1"] == round(kept["val_f1"], 4)
    card = (tmp_path / "run" / "model" / "README.md").read_text(encoding="utf-8")
    assert "pipeline_tag: token-classification" in card and "| entity type | precision |" in card
    assert "Entity types: " in card and "| **all (micro)** |" in card
    assert main(["predict", str(tmp_path / "run" / "model"), "Mary Jones works for Nokia in Oslo ."]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    sentence = "Mary Jones works for Nokia in Oslo ."
    assert out["text"] == sentence
    ents = {(e["text"], e["type"]) for e in out["entities"]}
    assert ("Mary Jones", "PER") in ents and ("Nokia", "ORG") in ents
    for e in out["entities"]:
        assert sentence[e["start"]:e["end"]] == e["text"] and 0 < e["score"] <= 1
