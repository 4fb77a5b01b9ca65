"""Weights that cannot be swapped: the pickle gate covers indexes and every pickle suffix, index
entries stay inside the folder, every saved file's SHA-256 is checked on load (and by
``autoglm verify``), wrong tensor names and corrupt safetensors headers are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from autoglm_core.cli.main import main  # noqa: E402
from autoglm_core.io.checksums import CHECKSUM_FILE, ChecksumError, UnverifiedModelWarning  # noqa: E402
from autoglm_core.models.loading import check_weights, load_model  # noqa: E402
from autoglm_core.testing import tiny_text_classifier  # noqa: E402
from autoglm_core.types.errors import ModelLoadError  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("model") / "model"
    tiny_text_classifier().save(directory)
    return directory


@pytest.fixture
def model_dir(saved, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(saved, tmp_path / "model"))


def _third_party(directory: Path) -> Path:
    """The same model as a directory from elsewhere: no recorded checksums."""
    (directory / CHECKSUM_FILE).unlink()
    return directory


def _state_dict(directory: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(directory / "model.safetensors")


def test_saved_model_records_checksums_and_loads(model_dir, capsys):
    recorded = json.loads((model_dir / CHECKSUM_FILE).read_text())["files"]
    assert "model.safetensors" in recorded and "config.json" in recorded and "autoglm_model.json" in recorded
    assert load_model(model_dir).labels
    assert main(["verify", str(model_dir)]) == 0
    assert f"ok: {len(recorded)} file(s)" in capsys.readouterr().out


def test_bit_flipped_weights_are_refused(model_dir, capsys):
    path = model_dir / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="model.safetensors: SHA-256 differs"):
        load_model(model_dir)
    assert main(["verify", str(model_dir)]) == 2
    assert "model.safetensors: SHA-256 differs" in capsys.readouterr().err
    assert main(["predict", str(model_dir), "Profit rose"]) == 2
    err = capsys.readouterr().err
    assert "SHA-256 differs" in err and "Traceback" not in err


def test_added_file_is_refused(model_dir):
    (model_dir / "pytorch_model.bin").write_bytes(b"not recorded")
    with pytest.raises(ChecksumError, match="pytorch_model.bin: not recorded at save time"):
        load_model(model_dir)


def test_verify_without_checksums_is_an_error(model_dir, capsys):
    assert main(["verify", str(_third_party(model_dir))]) == 2
    assert "no checksums were recorded" in capsys.readouterr().err


def test_deleted_checksum_file_warns_and_verify_refuses(model_dir, capsys):
    from autoglm_core.engine.predictor import Predictor

    path = _third_party(model_dir) / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01  # changed weights that still load
    path.write_bytes(bytes(data))
    with pytest.warns(UnverifiedModelWarning, match=f"has no {CHECKSUM_FILE} .autoglm records them"):
        assert load_model(model_dir).labels
    for load in (load_model, Predictor.load):
        with pytest.raises(ChecksumError, match="no checksums were recorded"):
            load(model_dir, verify=True)
    assert main(["predict", str(model_dir), "Profit rose"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {model_dir} has no {CHECKSUM_FILE}" in err and "--verify" in err, err
    assert "UnverifiedModelWarning" not in err and ".py:" not in err, err  # one clean line, no source line
    assert main(["predict", "--verify", str(model_dir), "Profit rose"]) == 2
    assert "no checksums were recorded" in capsys.readouterr().err


def _index_to_bin(directory: Path, shard: str = "pytorch_model-00001-of-00001.bin") -> None:
    sd = _state_dict(directory)
    torch.save(sd, directory / shard)
    (directory / "model.safetensors").unlink()
    (directory / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {k: shard for k in sd}}))


def test_safetensors_index_pointing_at_pickle_shards_is_refused(model_dir):
    _index_to_bin(_third_party(model_dir))
    with pytest.raises(ModelLoadError, match=r"would load pickle weights \(pytorch_model-00001-of-00001.bin\)"):
        load_model(model_dir)
    with pytest.raises(ModelLoadError, match="--allow-pickle"):
        check_weights(model_dir, allow_pickle=False)
    assert check_weights(model_dir, allow_pickle=True)  # the explicit opt-in still works


def test_index_entry_outside_the_folder_is_refused_even_with_allow_pickle(model_dir, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (model_dir / "model.safetensors").rename(outside / "model.safetensors")
    sd_keys = ["bert.embeddings.word_embeddings.weight"]
    (_third_party(model_dir) / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {k: "../elsewhere/model.safetensors" for k in sd_keys}}))
    for allow in (False, True):
        with pytest.raises(ModelLoadError, match="points outside the model folder"):
            load_model(model_dir, allow_pickle=allow)


def test_unreadable_pickle_weights_under_allow_pickle_speak_of_pickle_only(model_dir):
    (_third_party(model_dir) / "model.safetensors").unlink()
    (model_dir / "pytorch_model.bin").write_bytes(b"\x80\x02 not a torch checkpoint" * 4)
    with pytest.warns(UnverifiedModelWarning), pytest.raises(ModelLoadError) as caught:
        load_model(model_dir, allow_pickle=True)
    assert "pytorch_model.bin is not a readable PyTorch pickle checkpoint" in str(caught.value)
    assert "TF 2.0" not in str(caught.value) and "from_tf" not in str(caught.value)


@pytest.mark.parametrize("name", ["model.pt", "weights.pth", "last.ckpt", "pytorch_model.bin"])
def test_pickle_checkpoints_of_every_suffix_are_refused(model_dir, name):
    sd = _state_dict(model_dir)
    (_third_party(model_dir) / "model.safetensors").unlink()
    torch.save(sd, model_dir / name)
    with pytest.raises(ModelLoadError, match=f"would load pickle weights \\({name}\\)"):
        check_weights(model_dir, allow_pickle=False)


def test_corrupt_safetensors_header_is_a_clear_error(model_dir, capsys):
    path = _third_party(model_dir) / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[0:8] = (10**12).to_bytes(8, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="corrupt safetensors header"):
        load_model(model_dir)
    assert main(["predict", str(model_dir), "Profit rose"]) == 2
    err = capsys.readouterr().err
    assert "corrupt safetensors header" in err and "Traceback" not in err
    path.write_bytes(b"\x20\x00\x00\x00\x00\x00\x00\x00" + b"{not json at all, just garbage!}" + b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="corrupt safetensors header"):
        load_model(model_dir)


def test_wrong_tensor_names_are_an_error_not_random_weights(model_dir):
    from safetensors.torch import save_file

    sd = _state_dict(_third_party(model_dir))
    renamed = {k.replace("bert.encoder.", "bert.encoderx."): v for k, v in sd.items()}
    save_file(renamed, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"do not match the model's architecture: \d+ tensor\(s\) missing"):
        load_model(model_dir)


def test_wrong_tensor_names_error_comes_without_transformers_training_advice(model_dir, capsys):
    import logging

    from safetensors.torch import save_file

    sd = _state_dict(_third_party(model_dir))
    save_file({k.replace("classifier.", "head."): v for k, v in sd.items()}, str(model_dir / "model.safetensors"),
              metadata={"format": "pt"})
    printed: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: printed.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("transformers").addHandler(handler)  # where transformers' own lines go to stderr
    try:
        assert main(["predict", str(model_dir), "Profit rose"]) == 2
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    assert "do not match the model's architecture" in capsys.readouterr().err
    assert not [line for line in printed if "TRAIN" in line or "newly initialized" in line or "not sharded" in line], \
        printed
