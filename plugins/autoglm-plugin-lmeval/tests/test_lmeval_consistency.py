"""autoglm's lm-eval evaluator reports exactly what lm-eval reports when called directly."""

import json
import math

import pytest

EXAMPLE_TASKS = ["autoglm_example_mc", "autoglm_example_gen"]


def _direct(model_dir, task_dir, tasks, **kw):
    import lm_eval
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=[str(task_dir)], include_defaults=False)
    return lm_eval.simple_evaluate(model="hf", model_args={"pretrained": str(model_dir)}, tasks=tasks,
                                   task_manager=tm, device="cpu", **kw)


def _evaluator(**options):
    from autoglm_core.plugin.manager import get_manager

    return get_manager().registry("evaluator").get("lm-eval")(options=options)


@pytest.mark.slow
def test_lmeval_example_benchmark_equals_direct_lm_eval(lmeval_tiny_lm_dir, lmeval_direct_tasks):
    ev = _evaluator(tasks=["autoglm-example"], batch_size=4)
    ours = ev.evaluate(str(lmeval_tiny_lm_dir), None)
    direct = _direct(lmeval_tiny_lm_dir, lmeval_direct_tasks, EXAMPLE_TASKS, batch_size=4)

    expected = {}
    for task in EXAMPLE_TASKS:
        for key, value in direct["results"][task].items():
            if "," in key and "_stderr," not in key:
                metric, filt = key.split(",")
                name = metric if filt == "none" else f"{metric}/{filt}"
                expected[f"lm-eval:{task}:{name}"] = value
                expected[f"lm-eval:{task}:{name}:stderr"] = direct["results"][task][f"{metric}_stderr,{filt}"]
    assert set(ours) == set(expected)
    assert ours == expected  # bit-for-bit: same model, same requests, same aggregation
    # every example was scored, and the table carries the same numbers with their stderr
    assert direct["n-samples"]["autoglm_example_mc"]["effective"] == 20
    table = {(r["task"], r["metric"]): r for r in ev.last_result.table()}
    acc = table[("autoglm_example_mc", "acc")]
    assert acc["value"] == expected["lm-eval:autoglm_example_mc:acc"]
    assert acc["stderr"] == pytest.approx(math.sqrt(acc["value"] * (1 - acc["value"]) / 19))


def test_lmeval_built_model_fewshot_and_cache_match_direct(lmeval_tiny_lm, lmeval_direct_tasks, tmp_path):
    """A BuiltModel (saved to a temp dir), few-shot prompts and lm-eval's caches: still lm-eval's numbers."""
    from autoglm_core.plugin.components import BuiltModel

    model, tokenizer = lmeval_tiny_lm
    built = BuiltModel(model=model, tokenizer=tokenizer, labels=[], task_type="text_generation")
    cache = tmp_path / "cache"
    ev = _evaluator(tasks=["autoglm_example_mc"], num_fewshot=2, limit=8, use_cache=True, cache_dir=str(cache))
    first = ev.evaluate(built, None)
    assert list((cache / "responses").glob("*.db")), "lm-eval's response cache was not written in cache_dir"
    assert list((cache / "requests").iterdir()), "lm-eval's request cache was not written in cache_dir"
    again = ev.evaluate(built, None)  # served from the caches
    model_dir = tmp_path / "m"
    built.save(model_dir)
    direct = _direct(model_dir, lmeval_direct_tasks, ["autoglm_example_mc"], num_fewshot=2, limit=8)
    assert direct["n-shot"]["autoglm_example_mc"] == 2
    assert first == again
    assert first["lm-eval:autoglm_example_mc:acc"] == direct["results"]["autoglm_example_mc"]["acc,none"]
    assert first["lm-eval:autoglm_example_mc:acc_norm"] == direct["results"]["autoglm_example_mc"]["acc_norm,none"]


def test_lmeval_cli_eval_json(lmeval_tiny_lm_dir, capsys):
    """`autoglm eval MODEL_DIR --benchmark ... --json` through the command the plugin adds."""
    from autoglm_core.plugin.manager import get_manager

    try:
        from autoglm_core.cli.main import main
    except ImportError:  # the core CLI is not there yet: build the parser from the hook ourselves
        import argparse

        def main(argv):
            parser = argparse.ArgumentParser(prog="autoglm")
            get_manager().hook.autoglm_add_commands(subparsers=parser.add_subparsers(dest="command"))
            args = parser.parse_args(argv)
            return args.handler(args)

    rc = main(["eval", str(lmeval_tiny_lm_dir), "--benchmark", "autoglm_example_mc", "--limit", "6",
               "--batch-size", "2", "--json"])
    assert rc == 0
    out = capsys.readouterr().out
    data = json.loads(out[out.index("{"):])
    assert data["tasks"] == ["autoglm_example_mc"]
    rows = {r["metric"]: r for r in data["results"]}
    assert set(rows) == {"acc", "acc_norm"}
    assert 0.0 <= rows["acc"]["value"] <= 1.0 and rows["acc"]["stderr"] > 0
    # 6 examples: accuracy is a multiple of 1/6
    assert round(rows["acc"]["value"] * 6, 9) == int(round(rows["acc"]["value"] * 6))
