"""`autoglm attack MODEL_DIR --method ... --data FILE` on saved models."""

import json

import pytest

from autoglm_core.cli.main import main
from autoglm_core.testing import write_csv


@pytest.fixture(scope="module")
def fgsm_saved(fgsm_trained_tiny, tmp_path_factory):
    built, ctx = fgsm_trained_tiny
    root = tmp_path_factory.mktemp("attack_cli")
    built.save(root / "model")
    data = write_csv(root / "test.csv", ctx.splits.test)
    return root, data


def test_cli_fgsm_json_and_data_untouched(fgsm_saved, capsys):
    root, data = fgsm_saved
    before = data.read_bytes()
    rc = main(["attack", str(root / "model"), "--method", "fgsm", "--option", "epsilons=[0.02,0.1]",
               "--option", "epsilon=0.1", "--data", str(data), "--limit", "10", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["examples"] == 10
    m = out["metrics"]
    assert m["clean_accuracy"] >= 0.9 and m["accuracy_under_attack"] < m["clean_accuracy"]
    assert "accuracy_eps_0.02" in m
    assert data.read_bytes() == before


def test_cli_table_for_char_noise(fgsm_saved, capsys):
    root, data = fgsm_saved
    assert main(["attack", str(root / "model"), "--method", "char-noise", "--data", str(data)]) == 0
    table = capsys.readouterr().out
    assert "| clean_accuracy" in table and "| attack_success_rate" in table and "| queries_per_example" in table


def test_cli_attacks_defended_model_as_saved(fgsm_trained_tiny, fgsm_saved, tmp_path, capsys):
    from autoglm_plugin_fgsm.denoise import InputDenoising

    built, ctx = fgsm_trained_tiny
    _, data = fgsm_saved
    InputDenoising({}).defend(built, ctx).save(tmp_path / "denoised")
    results = {}
    for name, path in (("plain", fgsm_saved[0] / "model"), ("denoised", tmp_path / "denoised")):
        assert main(["attack", str(path), "--method", "char-noise", "--data", str(data), "--json"]) == 0
        results[name] = json.loads(capsys.readouterr().out)["metrics"]["accuracy_under_attack"]
    assert results["denoised"] >= results["plain"] + 0.3


@pytest.mark.parametrize("argv, message", [
    (["--method", "fgsmm"], "Did you mean 'fgsm'"),
    (["--method", "fgsm", "--option", "epsilon=-1"], "epsilon"),
    (["--method", "fgsm", "--option", "epsilons=[0.1,\"x\"]"], "not a number"),
    (["--method", "fgsm", "--limit", "0"], "--limit"),
])
def test_cli_bad_input_is_one_clear_error(fgsm_saved, capsys, argv, message):
    root, data = fgsm_saved
    rc = main(["attack", str(root / "model"), "--data", str(data), *argv])
    assert rc == 2 and message in capsys.readouterr().err


def test_cli_lists_attacks(capsys):
    assert main(["attack", "--list"]) == 0
    out = capsys.readouterr().out
    assert "fgsm" in out and "char-noise" in out
