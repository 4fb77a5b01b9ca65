"""`autoglm data convert`: every format to JPEG keeping the layout, bad files reported, sources
never touched."""

from __future__ import annotations

import hashlib

import pytest

from autoglm_core.cli.commands.data import convert_folder
from autoglm_core.cli.main import main


def _tree(root):
    from PIL import Image

    (root / "cats").mkdir(parents=True)
    (root / "dogs" / "puppies").mkdir(parents=True)
    Image.new("RGBA", (6, 6), (255, 0, 0, 0)).save(root / "cats" / "clear.png")  # transparent
    Image.new("RGB", (6, 6), (0, 0, 255)).save(root / "cats" / "blue.bmp")
    Image.new("RGB", (6, 6), (0, 255, 0)).save(root / "cats" / "blue.png")  # same stem as blue.bmp
    frames = [Image.new("L", (6, 6), i).convert("P") for i in (10, 200)]
    frames[0].save(root / "dogs" / "anim.gif", save_all=True, append_images=frames[1:])
    Image.new("L", (6, 6), 90).save(root / "dogs" / "grey.tiff")
    Image.new("RGB", (6, 6), (9, 9, 9)).save(root / "dogs" / "puppies" / "p.webp")
    Image.new("RGB", (6, 6), (1, 2, 3)).save(root / "dogs" / "already.jpg")
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    (root / "dogs" / "readme.md").write_text("hi")


def _hashes(root):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def test_convert_to_jpeg_keeps_layout_reports_bad_files_and_never_touches_sources(tmp_path):
    from PIL import Image

    src, dst = tmp_path / "src", tmp_path / "out"
    _tree(src)
    before = _hashes(src)
    r = convert_folder(src, dst, "jpg")
    assert _hashes(src) == before
    outs = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file())
    assert outs == ["cats/blue.jpg", "cats/blue.png.jpg", "cats/clear.jpg", "dogs/already.jpg", "dogs/anim.jpg",
                    "dogs/grey.jpg", "dogs/puppies/p.jpg"]
    for p in dst.rglob("*.jpg"):
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.mode == "RGB"
    with Image.open(dst / "cats" / "clear.jpg") as im:
        assert min(im.getpixel((3, 3))) > 240  # transparency composited on white
    assert [f["path"].endswith("broken.png") for f in r["failed"]] == [True]
    assert r["not_images"] == [str(src / "dogs" / "readme.md")]
    assert len(r["copied"]) == 1 and len(r["renamed"]) == 1
    assert any("2 frames" in c.get("note", "") for c in r["converted"])
    # a second run does not overwrite what exists unless asked
    again = convert_folder(src, dst, "jpg")
    assert len(again["skipped"]) == 7 and not again["converted"]
    assert len(convert_folder(src, dst, "jpg", overwrite=True)["converted"]) == 6


def test_convert_refuses_to_write_over_or_around_the_source(tmp_path):
    from autoglm_core.types.errors import AutoGLMError

    src = tmp_path / "data" / "src"
    _tree(src)
    with pytest.raises(AutoGLMError, match="source folder"):
        convert_folder(src, src, "jpg")
    with pytest.raises(AutoGLMError, match="contains the source"):
        convert_folder(src, tmp_path / "data", "jpg")
    with pytest.raises(AutoGLMError, match="supported targets"):
        convert_folder(src, tmp_path / "x", "gif")
    # a destination inside the source is fine: it is not read back as input
    r = convert_folder(src, src / "converted", "png")
    assert len(r["converted"]) == 7 and not any("converted" in f for f in r["not_images"])


def test_convert_cli(tmp_path, capsys):
    src = tmp_path / "src"
    _tree(src)
    assert main(["data", "convert", str(src), str(tmp_path / "o"), "--to", "jpg"]) == 0
    out = capsys.readouterr().out
    assert "converted 6 file(s)" in out and "broken.png" in out and "not an image" in out
    assert main(["data", "convert", str(src), str(tmp_path / "o2"), "--strict"]) == 1
    assert main(["data", "convert", str(tmp_path / "missing"), str(tmp_path / "o3")]) == 2
