"""One training loop: no module but autoglm_core/training/loop.py steps an optimizer.

The rule, checked on the syntax tree of every module in autoglm_core/ and plugins/ (their tests
included): outside loop.py there is no call of a method named ``step`` (an optimizer's,
a scheduler's, LocalSGD's or a GradScaler's ``step``), and no use of ``torch.optim`` or
``accelerate.local_sgd`` (without which there is no optimizer to step). Calls named ``step`` that
are not optimizers are listed below by module and receiver, each with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOOP = "autoglm_core/training/loop.py"
#: (module, receiver) of ``step`` calls that are not optimizer steps
NOT_OPTIMIZERS = {
    # the incremental decoder of beam search: one token per call
    ("autoglm_core/models/decoding/loops.py", "stepper"),
}
OPTIMIZER_MODULES = ("torch.optim", "accelerate.local_sgd")


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def violations(module: str, source: str) -> list[str]:
    """What in ``source`` (the module at repo path ``module``) steps or makes an optimizer."""
    if module == LOOP:
        return []
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "step":
            receiver = _dotted(node.func.value)
            if (module, receiver) not in NOT_OPTIMIZERS:
                found.append(f"{module}:{node.lineno}: {receiver or '<expression>'}.step()")
        elif isinstance(node, ast.Attribute) and _dotted(node).startswith(OPTIMIZER_MODULES):
            found.append(f"{module}:{node.lineno}: {_dotted(node)}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(OPTIMIZER_MODULES):
            found.append(f"{module}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom) and node.module in ("torch", "accelerate") and any(
                a.name in ("optim", "local_sgd") for a in node.names):
            found.append(f"{module}:{node.lineno}: from {node.module} import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import) and any(a.name.startswith(OPTIMIZER_MODULES) for a in node.names):
            found.append(f"{module}:{node.lineno}: import {', '.join(a.name for a in node.names)}")
    return found


def _modules() -> list[Path]:
    files = sorted((ROOT / "autoglm_core").rglob("*.py")) + sorted((ROOT / "plugins").rglob("*.py"))
    return [f for f in files if ".venv" not in f.parts and "build" not in f.parts]


def test_only_the_shared_loop_steps_an_optimizer():
    files = _modules()
    assert any(f.as_posix().endswith(LOOP) for f in files) and len(files) > 100
    found = [v for f in files for v in violations(f.relative_to(ROOT).as_posix(), f.read_text(encoding="utf-8"))]
    assert found == [], "optimizer steps outside training/loop.py (train through run_loop instead):\n" + "\n".join(found)


def test_the_rule_catches_a_loop_of_its_own():
    scratch = (
        "import torch\n"
        "from torch.optim import SGD\n"
        "def train(model, batches):\n"
        "    opt = torch.optim.AdamW(model.parameters())\n"
        "    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)\n"
        "    for b in batches:\n"
        "        model(**b).loss.backward()\n"
        "        opt.step()\n"
        "        self.trainer.optimizer.step()\n"
        "        sched.step()\n"
    )
    found = violations("plugins/autoglm-plugin-x/autoglm_plugin_x/train.py", scratch)
    assert [f.split(": ", 1)[1] for f in found if f.endswith(".step()")] == [
        "opt.step()", "self.trainer.optimizer.step()", "sched.step()"]
    assert any("from torch.optim import" in f for f in found)
    assert any(f.endswith("torch.optim.AdamW") for f in found)
    # the same code is allowed in the loop, and a decoder's step only where it is listed
    assert violations(LOOP, scratch) == []
    decoder = "def go(stepper, t):\n    return stepper.step(t)\n"
    assert violations("autoglm_core/models/decoding/loops.py", decoder) == []
    assert violations("autoglm_core/tasks/other.py", decoder) == ["autoglm_core/tasks/other.py:2: stepper.step()"]
