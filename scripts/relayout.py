"""Rewrite imports and module references from the flat layout of autoglm_core to the package layout.

    python scripts/relayout.py rewrite FILE...   # rewrite old module names in FILEs (idempotent)

A file written against the old layout (``from ..schemas import X``, ``"autoglm_core.plugins"``,
``autoglm_core/builtin/vision.py``) is rewritten to the new names; relative imports inside
``autoglm_core`` are made absolute first, resolved against the file's own package, so a module
written for the old tree keeps working once it sits at its new path (see ``MOVES``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# old dotted module -> new dotted module
MOVES: dict[str, str] = {
    "autoglm_core.hookspecs": "autoglm_core.plugin.hookspecs",
    "autoglm_core.plugins": "autoglm_core.plugin.manager",
    "autoglm_core.registry": "autoglm_core.plugin.registry",
    "autoglm_core.components": "autoglm_core.plugin.components",
    "autoglm_core.schemas": "autoglm_core.types.schemas",
    "autoglm_core.errors": "autoglm_core.types.errors",
    "autoglm_core.data.types": "autoglm_core.types.data",
    "autoglm_core.task": "autoglm_core.engine.task",
    "autoglm_core.pipeline_run": "autoglm_core.engine.pipeline_run",
    "autoglm_core.runner": "autoglm_core.engine.runner",
    "autoglm_core.selection": "autoglm_core.engine.selection",
    "autoglm_core.report": "autoglm_core.engine.report",
    "autoglm_core.training": "autoglm_core.training.finetune",
    "autoglm_core.distributed": "autoglm_core.training.distributed",
    "autoglm_core.search": "autoglm_core.training.search",
    "autoglm_core.builtin.text_classification": "autoglm_core.tasks.text_classification.plugin",
    "autoglm_core.builtin.zero_shot": "autoglm_core.tasks.text_classification.zero_shot",
    "autoglm_core.prompts": "autoglm_core.tasks.text_classification.prompts",
    "autoglm_core.builtin.text_generation": "autoglm_core.tasks.text_generation.plugin",
    "autoglm_core.decoding": "autoglm_core.tasks.text_generation.decoding",
    "autoglm_core.builtin.decoders": "autoglm_core.tasks.text_generation.decoders",
    "autoglm_core.codegen.sandbox": "autoglm_core.tasks.code_generation.sandbox",
    "autoglm_core.codegen.assistant": "autoglm_core.tasks.code_generation.assistant",
    "autoglm_core.codegen.humaneval": "autoglm_core.tasks.code_generation.humaneval",
    "autoglm_core.codegen": "autoglm_core.tasks.code_generation",
    "autoglm_core.builtin.vision": "autoglm_core.tasks.image_classification.plugin",
    "autoglm_core.models.vision_nets": "autoglm_core.tasks.image_classification.nets",
    "autoglm_core.data.images": "autoglm_core.tasks.image_classification.images",
    "autoglm_core.builtin.multimodal": "autoglm_core.tasks.multimodal_classification.plugin",
    "autoglm_core.builtin.commands": "autoglm_core.cli.commands.core",
    "autoglm_core.builtin.cmd_compress": "autoglm_core.cli.commands.compress",
    "autoglm_core.builtin.cmd_attack": "autoglm_core.cli.commands.attack",
    "autoglm_core.builtin.cmd_generate": "autoglm_core.cli.commands.generate",
    "autoglm_core.builtin.cmd_predict": "autoglm_core.cli.commands.predict",
    "autoglm_core.builtin.cmd_monitor": "autoglm_plugin_monitor.command",
    "autoglm_core.cli.commands.monitor": "autoglm_plugin_monitor.command",
    # applications that are plugins now
    "autoglm_core.monitor": "autoglm_plugin_monitor",
    "autoglm_core.transfer": "autoglm_plugin_transfer.transfer",
    "autoglm_core.onnx_export": "autoglm_plugin_onnx.export",
    "autoglm_core.builtin.cmd_data": "autoglm_core.cli.commands.data",
    "autoglm_core.cli": "autoglm_core.cli.main",
    "autoglm_core.builtin.cmd_humaneval": "autoglm_core.cli.commands.humaneval",
    "autoglm_core.builtin.cmd_verify": "autoglm_core.cli.commands.verify",
    "autoglm_core.run_lock": "autoglm_core.engine.run_lock",
    "autoglm_core.config_limits": "autoglm_core.engine.config_limits",
    "autoglm_core.oserrors": "autoglm_core.io.oserrors",
    "autoglm_core.builtin.cmd_plugin": "autoglm_core.cli.commands.plugin",
    "autoglm_core.hook_guard": "autoglm_core.plugin.hook_guard",
    "autoglm_core.plugin_checks": "autoglm_core.plugin.checks",
    "autoglm_core.plugin_template": "autoglm_core.plugin.template",
    "autoglm_core.pytest_plugin": "autoglm_core.testing.pytest_plugin",
    "autoglm_core.training_loop": "autoglm_core.training.loop",
    "autoglm_core.tracking": "autoglm_core.engine.tracking",
    "autoglm_core.progress": "autoglm_core.engine.progress",
    "autoglm_core.report_html": "autoglm_core.engine.report_html",
    "autoglm_core.builtin.cmd_report": "autoglm_core.cli.commands.report",
    "autoglm_core.builtin.cmd_models": "autoglm_core.cli.commands.models",
}

_NEW = set(MOVES.values())
_TOKEN = re.compile(r"(?<![\w.])autoglm_core(?:[./]\w+)*")


def _map_token(token: str) -> str:
    sep = "/" if "/" in token else "."
    ext = ""
    if sep == "/" and token.endswith(".py"):
        token, ext = token[:-3], ".py"
    dotted = token.replace("/", ".")
    if dotted not in MOVES and any(dotted == n or dotted.startswith(n + ".") or n.startswith(dotted + ".")
                                   for n in _NEW):
        return token + ext  # already the new layout
    parts = dotted.split(".")
    for cut in range(len(parts), 1, -1):
        head = ".".join(parts[:cut])
        if head in MOVES:
            return sep.join(MOVES[head].split(".") + parts[cut:]) + ext
    return token + ext


_REL = re.compile(r"^(?P<indent>\s*)from (?P<dots>\.+)(?P<mod>[\w.]*) import ", re.M)
_FROM_PKG = re.compile(r"^(?P<indent>\s*)from (?P<pkg>autoglm_core[\w.]*) import (?P<name>\w+)(?P<rest>[ \t]*(#.*)?)$", re.M)


def absolutise(text: str, module: str, is_package: bool) -> str:
    """Relative imports in ``module`` (old dotted name) made absolute."""
    package = module if is_package else module.rsplit(".", 1)[0]

    def repl(m: re.Match[str]) -> str:
        parts = package.split(".")
        up = len(m["dots"]) - 1
        base = parts[: len(parts) - up] if up else parts
        target = ".".join(base + ([m["mod"]] if m["mod"] else []))
        return f"{m['indent']}from {target} import "

    return _REL.sub(repl, text)


def rename(text: str) -> str:
    # ``from autoglm_core.builtin import vision``: the imported name is itself a moved module
    def from_pkg(m: re.Match[str]) -> str:
        full = f"{m['pkg']}.{m['name']}"
        if full in MOVES:
            new_parent, leaf = MOVES[full].rsplit(".", 1)
            alias = "" if leaf == m["name"] else f" as {m['name']}"
            return f"{m['indent']}from {new_parent} import {leaf}{alias}{m['rest']}"
        return m.group(0)

    text = _FROM_PKG.sub(from_pkg, text)
    return _TOKEN.sub(lambda m: _map_token(m.group(0)), text)


def module_of(path: Path, root: Path) -> tuple[str, bool]:
    rel = path.resolve().relative_to(root.resolve()).with_suffix("")
    parts = list(rel.parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "rewrite":
        print(__doc__)
        return 2
    root = Path(__file__).resolve().parent.parent
    for name in argv[1:]:
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        new = text
        if path.suffix == ".py" and "autoglm_core" in path.resolve().relative_to(root).parts[:1]:
            module, is_package = module_of(path, root)
            new = absolutise(new, module, is_package)
        new = rename(new)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
