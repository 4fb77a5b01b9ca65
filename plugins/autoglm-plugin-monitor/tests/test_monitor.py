"""autoglm monitor: cleaning, malformed lines, CSV, a growing folder, resume, rules validation, alerts."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from autoglm_plugin_monitor import Monitor, RulesFile, load_rules
from autoglm_plugin_monitor.alerts import AlertEngine
from autoglm_plugin_monitor.clean import Deduplicator, clean_text, fingerprint

from autoglm_core.cli.main import main
from autoglm_core.types.errors import ConfigError

RULES = """
entities:
  Nokia: [nokia]
  Kone: [kone]
rules:
  - name: negative-spike
    label: negative
    entity: "*"
    window: 4
    threshold: 0.5
    min_documents: 2
"""


@pytest.fixture(scope="module")
def monitor_model_dir(tmp_path_factory) -> Path:
    """A tiny saved classifier whose output bias makes every prediction 'negative' (deterministic alerts)."""
    import torch

    from autoglm_core.testing import tiny_text_classifier

    built = tiny_text_classifier()
    with torch.no_grad():
        built.model.classifier.bias.copy_(torch.tensor([20.0, 0.0, 0.0]))  # labels: negative, neutral, positive
    return built.save(tmp_path_factory.mktemp("monitor-model") / "model")


def _rules(tmp_path: Path, text: str = RULES) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _check_accounting(out: Path) -> dict:
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    c = s["counts"]
    assert c["read"] == c["predicted"] + c["duplicates"] + c["empty"] + c["rejected"]
    assert len(_lines(out / "predictions.jsonl")) == c["predicted"]
    assert len(_lines(out / "rejected.jsonl")) == c["duplicates"] + c["empty"] + c["rejected"]
    return s


def test_clean_text_strips_html_entities_and_whitespace():
    assert clean_text("<p>Nokia&nbsp;profit <b>rose</b></p><p>again</p>\n\t ") == "Nokia profit rose again"
    assert clean_text("<script>var x=1;</script>  Kone &amp; Co  ") == "Kone & Co"
    assert clean_text("&lt;b&gt;bold&lt;/b&gt; text") == "bold text"
    assert clean_text("<br/>   ") == ""
    assert fingerprint("Profit rose!") == fingerprint("profit   rose")
    d = Deduplicator(capacity=2)
    assert [d.seen(k) for k in ("a", "b", "a", "c", "b", "b")] == [False, False, True, False, False, True]


def test_monitor_jsonl_counts_every_line_and_alerts(tmp_path, monitor_model_dir, capsys):
    src = tmp_path / "news.jsonl"
    src.write_text("\n".join([
        json.dumps({"text": "<p>Nokia profit fell</p>", "id": 1}),
        "this is not json",
        json.dumps({"headline_typo": "Kone sales dropped"}),
        json.dumps({"text": "Nokia   profit FELL"}),          # duplicate after cleaning
        "",
        json.dumps({"text": "<br>"}),                          # empty after cleaning
        json.dumps(["a", "list"]),
        json.dumps({"text": "Nokia shares plunged", "id": 7}),
        json.dumps({"text": "Kone heavy losses"}),
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    rc = main(["monitor", str(monitor_model_dir), "--input", str(src), "--rules", str(_rules(tmp_path)),
               "--out", str(out), "--batch-size", "2"])
    assert rc == 0
    s = _check_accounting(out)
    assert s["counts"] == {"read": 9, "predicted": 3, "duplicates": 1, "empty": 2, "rejected": 3}
    rejected = {r["line"]: r["reason"] for r in _lines(out / "rejected.jsonl")}
    assert rejected[2].startswith("not JSON")
    assert "no text field" in rejected[3] and "headline_typo" in rejected[3]
    assert rejected[4] == "duplicate" and rejected[5] == "empty line" and rejected[6] == "empty after cleaning"
    assert "not a JSON object" in rejected[7]
    preds = _lines(out / "predictions.jsonl")
    assert [p["line"] for p in preds] == [1, 8, 9]
    assert preds[0]["text"] == "Nokia profit fell" and preds[0]["id"] == 1 and preds[0]["entities"] == ["Nokia"]
    assert all(p["label"] == "negative" for p in preds)
    alerts = _lines(out / "alerts.jsonl")
    # Nokia reaches 2 negative documents at line 8; Kone has only one document: no alert.
    assert [(a["rule"], a["entity"], a["triggered_by"]["line"]) for a in alerts] == [("negative-spike", "Nokia", 8)]
    assert alerts[0]["share"] == 1.0 and alerts[0]["evidence"] == ["news.jsonl:1", "news.jsonl:8"]
    assert "rejected 3" in capsys.readouterr().out
    assert "Nokia" in (out / "summary.md").read_text(encoding="utf-8")


def test_monitor_csv_with_multiline_field_and_bad_row(tmp_path, monitor_model_dir):
    src = tmp_path / "news.csv"
    src.write_text('id,text\n1,"Nokia profit\nfell sharply"\n2,too,many,fields\n3,Kone sales dropped\n', encoding="utf-8")
    out = tmp_path / "out"
    m = Monitor(monitor_model_dir, str(src), out, rules=_rules(tmp_path))
    s = m.run()
    assert s.counts["predicted"] == 2 and s.counts["rejected"] == 1 and s.counts["read"] == 3
    preds = _lines(out / "predictions.jsonl")
    assert preds[0]["text"] == "Nokia profit fell sharply" and preds[0]["line"] == 2 and preds[1]["line"] == 5
    assert "field(s), the header has 2" in _lines(out / "rejected.jsonl")[0]["reason"]
    # resume: the header read in the first session parses the appended rows
    with src.open("a", encoding="utf-8") as fh:
        fh.write("4,Nokia shares plunged\n")
    s = Monitor(monitor_model_dir, str(src), out, rules=_rules(tmp_path)).run()
    assert s.counts["predicted"] == 3 and s.session_documents == 1
    last = _lines(out / "predictions.jsonl")[-1]
    assert last == {**last, "id": "4", "text": "Nokia shares plunged", "line": 6}


def test_monitor_follows_a_growing_folder_and_resumes(tmp_path, monitor_model_dir):
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "a.jsonl").write_text(json.dumps({"text": "Nokia profit fell"}) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    rules = _rules(tmp_path)

    def grow(poll: int, got: int) -> None:
        if poll == 1:  # a new file, a line appended, and a half-written line that must wait
            (feed / "b.jsonl").write_text(json.dumps({"text": "Kone sales dropped"}) + "\n", encoding="utf-8")
            (feed / ".c.jsonl.tmp").write_text("{half", encoding="utf-8")  # ignored: still being written
            with (feed / "a.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"text": "Nokia shares plunged"}) + "\n" + '{"text": "Nokia debt ')
        if poll == 2:
            with (feed / "a.jsonl").open("a", encoding="utf-8") as fh:
                fh.write('rose"}\n')

    s = Monitor(monitor_model_dir, str(feed), out, rules=rules).run(follow=True, poll_interval=0.01, max_polls=3,
                                                                     on_poll=grow)
    assert s.counts["predicted"] == 4 and s.counts["read"] == 4
    texts = [p["text"] for p in _lines(out / "predictions.jsonl")]
    assert texts == ["Nokia profit fell", "Nokia shares plunged", "Kone sales dropped", "Nokia debt rose"]
    state = json.loads((out / "state.json").read_text(encoding="utf-8"))
    assert state["files"]["a.jsonl"]["offset"] == (feed / "a.jsonl").stat().st_size
    assert state["files"]["a.jsonl"]["line"] == 3

    # resume: only what is new is read; the counts go on
    (feed / "c.jsonl").write_text(json.dumps({"text": "Kone layoffs announced"}) + "\nnot json\n", encoding="utf-8")
    m = Monitor(monitor_model_dir, str(feed), out, rules=rules)
    assert m.resumed
    s = m.run()
    assert s.counts["predicted"] == 5 and s.counts["rejected"] == 1 and s.counts["read"] == 6
    assert s.session_documents == 1
    _check_accounting(out)

    # a crash after the outputs were appended but before the state was saved: the extra lines are cut
    with (out / "predictions.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"half written": tru')
    s = Monitor(monitor_model_dir, str(feed), out, rules=rules).run()
    assert s.counts["read"] == 6
    _check_accounting(out)

    # a different input in the same --out folder is refused; --restart starts over
    with pytest.raises(ConfigError, match="--restart"):
        Monitor(monitor_model_dir, str(feed / "a.jsonl"), out, rules=rules)
    s = Monitor(monitor_model_dir, str(feed / "a.jsonl"), out, rules=rules, restart=True).run()
    assert s.counts["read"] == 3


def test_monitor_reads_stdin(tmp_path, monitor_model_dir, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "Nokia profit fell"}\n{"oops": 1}\n'))
    out = tmp_path / "out"
    assert main(["monitor", str(monitor_model_dir), "--input", "-", "--out", str(out)]) == 0
    s = _check_accounting(out)
    assert s["counts"]["predicted"] == 1 and s["counts"]["rejected"] == 1
    assert _lines(out / "rejected.jsonl")[0] == {"source": "<stdin>", "line": 2,
                                                  "reason": "no text field (text, sentence, content, review, ...); fields: oops"}


def test_rules_file_unknown_field_is_named(tmp_path, monitor_model_dir, capsys):
    bad = _rules(tmp_path, "rules:\n  - name: r1\n    label: negative\n    treshold: 0.4\n")
    with pytest.raises(ConfigError) as e:
        load_rules(bad)
    assert str(bad) in str(e.value) and "rules.0.treshold" in str(e.value)
    src = tmp_path / "x.jsonl"
    src.write_text('{"text": "a"}\n', encoding="utf-8")
    rc = main(["monitor", str(monitor_model_dir), "--input", str(src), "--rules", str(bad), "--out", str(tmp_path / "o")])
    assert rc == 2 and "treshold" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="does not predict"):
        load_rules(_rules(tmp_path, "rules:\n  - {name: r, label: bearish}\n"), labels=["negative", "positive"])
    with pytest.raises(ConfigError, match="min_documents"):
        load_rules(_rules(tmp_path, "rules:\n  - {name: r, label: negative, window: 3, min_documents: 5}\n"))


def test_alert_engine_window_threshold_and_rearm():
    rules = RulesFile.model_validate({
        "entities": {"Kone": ["kone"]},
        "rules": [{"name": "neg", "label": "negative", "entity": "Kone", "window": 4, "threshold": 0.75,
                   "min_documents": 4},
                  {"name": "all", "label": "positive", "window": 2, "threshold": 1.0, "min_documents": 2}],
    })
    eng = AlertEngine(rules)
    assert eng.matcher.entities("KONE results; konecranes too", {}) == ["Kone"]
    assert eng.matcher.entities("Konecranes results", {}) == []
    fired = []
    labels = ["negative", "negative", "positive", "negative", "negative", "negative", "positive", "positive",
              "negative", "negative", "negative"]
    for i, lab in enumerate(labels):
        for a in eng.observe(label=lab, probabilities={lab: 0.9}, entities=["Kone"], t=float(i), ref=str(i), doc={}):
            fired.append((a["rule"], i))
    # neg: window [n,n,p,n] 0.75 at i=3 -> alert; stays high (no repeat) until it drops below at i=6
    # (p,n,n,p...); back to [p,n,n,n]=0.75 at i=10 -> second alert. all: two positives in a row at i=7.
    assert fired == [("neg", 3), ("all", 7), ("neg", 10)]
    restored = AlertEngine(rules, json.loads(json.dumps(eng.state())))
    assert restored.state() == eng.state()


def test_monitor_int8_variant(tmp_path, monitor_model_dir):
    pytest.importorskip("autoglm_plugin_int8")
    from autoglm_core.models.loading import load_model
    from autoglm_core.plugin.manager import get_manager

    built = load_model(monitor_model_dir)
    int8 = get_manager().registry("compressor").get("int8")().compress(built, None)
    qdir = int8.save(tmp_path / "model-int8")
    src = tmp_path / "n.jsonl"
    src.write_text('{"text": "Nokia profit fell"}\n{"text": "Kone sales rose"}\n', encoding="utf-8")
    s = Monitor(qdir, str(src), tmp_path / "out", rules=_rules(tmp_path)).run()
    assert s.counts["predicted"] == 2 and dict(s.labels) == {"negative": 2}
