"""docs/api.md is generated from the signatures (scripts/gen_api.py): it fails here when the code
and the page disagree, and it covers every hook, registry kind, component base and facade name."""

import importlib.util
import inspect
from pathlib import Path

import autoglm_core
from autoglm_core.plugin import hookspecs
from autoglm_core.plugin.bases import REGISTRY_BASES

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "api.md"


def generator():
    spec = importlib.util.spec_from_file_location("gen_api", ROOT / "scripts" / "gen_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_api_md_is_up_to_date():
    gen = generator()
    assert PAGE.read_text(encoding="utf-8") == gen.render(), (
        f"docs/api.md is out of date with the code: run `{gen.COMMAND}` from the repository root")


def test_the_page_covers_every_hook_kind_base_and_facade_name():
    text = generator().render()
    for name in hookspecs.hook_names():
        opts = getattr(hookspecs, name).autoglm_spec
        section = text.split(f"### `{name}`")[1].split("###")[0]
        assert f"def {name}(" in section
        assert ("*firstresult*" in section) == bool(opts.get("firstresult")), name
    for hook, kind in hookspecs.REGISTRY_HOOKS.items():
        base = REGISTRY_BASES[kind].resolve().__name__
        assert f"| `{kind!r}` | `{hook}` |" in text and f"### `autoglm_core.{base}`" in text
    for name in autoglm_core.__all__:
        assert f"| `{name}` |" in text
    # Tracker's methods with their signatures, reached through the facade (survives a move)
    for member, fn in vars(autoglm_core.Tracker).items():
        if inspect.isfunction(fn) and not member.startswith("_"):
            assert f"def {member}(self" in text.split("### `autoglm_core.Tracker`")[1].split("###")[0]


def test_the_check_mode_names_the_command_when_the_page_is_stale(tmp_path, monkeypatch, capsys):
    gen = generator()
    monkeypatch.setattr(gen, "PAGE", tmp_path / "api.md")
    (tmp_path / "api.md").write_text(gen.render().replace("autoglm_build_model", "autoglm_bild_model"))
    assert gen.main(["--check"]) == 1
    assert "python -m scripts.gen_api" in capsys.readouterr().err
    assert gen.main([]) == 0 and gen.main(["--check"]) == 0
