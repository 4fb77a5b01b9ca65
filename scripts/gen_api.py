"""Write docs/api.md, the API reference, from the code's own signatures and docstrings.

Run from the repository root: ``python -m scripts.gen_api`` (``--check`` exits 1 when the page is
out of date). tests/meta/test_api_reference.py fails when the page and the code disagree.

Every class is reached through the public facade (``autoglm_core.Tracker``, ...), never through a
module path, so the page follows a class that moves between modules; its source is read with
``inspect`` and its members are printed from their syntax trees (signatures exactly as written).
"""

from __future__ import annotations

import argparse
import ast
import copy
import inspect
import re
import sys
import textwrap
from pathlib import Path

import autoglm_core
from autoglm_core.plugin import hookspecs
from autoglm_core.plugin.bases import REGISTRY_BASES

PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.md"
COMMAND = "python -m scripts.gen_api"

#: the component bases a plugin extends, in the order the page shows them (facade names)
BASE_CLASSES = ("Component", "BuiltModel", "TaskType", "RunContext")


def markdown(text: str) -> str:
    """reST inline markup as markdown: ``x`` and :role:`x` as code; ``~a.b.C`` as ``C``."""
    text = re.sub(r":\w+:`~[\w.]*?(\w+)`", r"`\1`", text)
    text = re.sub(r":\w+:`([^`]+)`", r"`\1`", text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    return markdown(" ".join(inspect.cleandoc(doc).split("\n\n")[0].split()))


def facade_name(obj: object) -> str | None:
    """The facade name ``obj`` is exported under, if any."""
    for name in autoglm_core.__all__:
        if getattr(autoglm_core, name) is obj:
            return name
    return None


def facade_sources() -> dict[str, str]:
    """Facade name -> the module it comes from: ``_LAZY`` for the lazy names, the facade's own
    ``from X import name`` lines for the eager ones."""
    sources = dict(autoglm_core._LAZY)
    tree = ast.parse(Path(autoglm_core.__file__).read_text(encoding="utf-8"))
    for node in tree.body:  # module level only: the TYPE_CHECKING block repeats the lazy ones
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                sources.setdefault(alias.asname or alias.name, node.module)
    return sources


def signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """``def name(args) -> result`` as written in the source, with its decorators."""
    stub = copy.copy(node)
    stub.body, stub.decorator_list = [ast.Expr(ast.Constant(...))], []
    text = ast.unparse(stub).removesuffix(":\n    ...")
    decorators = " ".join(f"@{ast.unparse(d)}" for d in node.decorator_list)
    return f"{decorators} {text}" if decorators else text


def class_tree(cls: type) -> tuple[ast.ClassDef, list[str]]:
    source = textwrap.dedent(inspect.getsource(cls))
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ClassDef), cls
    return node, source.splitlines()


def attribute_comment(lines: list[str], lineno: int) -> str:
    """The ``#:`` comment lines just above line ``lineno`` (1-based), joined."""
    out: list[str] = []
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith("#:"):
        out.insert(0, lines[i].strip()[2:].strip())
        i -= 1
    return " ".join(out)


def member_lines(cls: type) -> list[str]:
    node, lines = class_tree(cls)
    out: list[str] = []
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if item.name.startswith("_") and item.name != "__init__":
                continue
            doc = first_paragraph(ast.get_docstring(item))
            out.append(f"- `{signature(item)}`" + (f": {doc}" if doc else ""))
        elif isinstance(item, (ast.AnnAssign, ast.Assign)):
            targets = [item.target] if isinstance(item, ast.AnnAssign) else item.targets
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if not names or all(n.startswith("_") for n in names):
                continue
            comment = attribute_comment(lines, item.lineno)
            out.append(f"- `{ast.unparse(item)}`" + (f": {markdown(comment)}" if comment else ""))
        elif isinstance(item, ast.ClassDef) and not item.name.startswith("_"):
            bases = ", ".join(ast.unparse(b) for b in item.bases)
            body = "; ".join(ast.unparse(s) for s in item.body if not isinstance(s, ast.Expr))
            out.append(f"- `class {item.name}({bases})`" + (f": `{body}`" if body else ""))
    return out


def class_section(name: str, cls: type) -> list[str]:
    node, _ = class_tree(cls)
    bases = ", ".join(ast.unparse(b) for b in node.bases)
    head = f"### `autoglm_core.{name}`" + (f" (extends `{bases}`)" if bases else "")
    return [head, "", first_paragraph(cls.__doc__), "", *member_lines(cls), ""]


def hooks_section() -> list[str]:
    out = ["## Hooks", "", "Declared in the plugin core's hook specifications; implement them with "
           "`@autoglm_core.hookimpl`. *firstresult*: the first implementation that returns something "
           "other than `None` wins; otherwise every implementation runs.", ""]
    for name in hookspecs.hook_names():
        fn = getattr(hookspecs, name)
        opts = getattr(fn, f"{hookspecs.PROJECT}_spec", {})
        node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
        assert isinstance(node, ast.FunctionDef)
        node.decorator_list = []  # the hookspec marker; firstresult is said in words
        kind = "firstresult" if opts.get("firstresult") else "every implementation runs"
        registry = hookspecs.REGISTRY_HOOKS.get(name)
        fills = f"; fills the `{registry!r}` registry" if registry else ""
        out += [f"### `{name}`", "", "```python", signature(node), "```", "",
                f"*{kind}*{fills}. {first_paragraph(fn.__doc__)}", ""]
    return out


def registries_section() -> list[str]:
    out = ["## Registry kinds", "", "The names `get_manager().registry(kind)` accepts, spelled exactly "
           "(with spaces), the hook whose implementations fill each, and what a registered object must be.",
           "", "| kind | filled by | a registered object must be |", "|---|---|---|"]
    by_kind = {kind: hook for hook, kind in hookspecs.REGISTRY_HOOKS.items()}
    for kind, hook in by_kind.items():
        spec = REGISTRY_BASES.get(kind)
        if spec is None:
            must = "anything"
        else:
            cls = spec.resolve()
            shown = f"autoglm_core.{facade_name(cls) or cls.__qualname__}"
            must = f"an instance of `{shown}`" if spec.instance else f"a subclass of `{shown}`"
        out.append(f"| `{kind!r}` | `{hook}` | {must} |")
    return [*out, ""]


def components_section() -> list[str]:
    out = ["## Component base classes", "", "Public members as written in the source (private helpers "
           "left out); `#:` comments and the first paragraph of each docstring follow.", ""]
    names = list(BASE_CLASSES)
    for kind in hookspecs.REGISTRY_HOOKS.values():
        spec = REGISTRY_BASES.get(kind)
        name = facade_name(spec.resolve()) if spec else None
        if name and name not in names:
            names.append(name)
    for name in names:
        out += class_section(name, getattr(autoglm_core, name))
    return out


def facade_section() -> list[str]:
    sources = facade_sources()
    out = ["## The facade: `autoglm_core.__all__`", "", "Plugins and task types import only these "
           "(`from autoglm_core import X`), plus `autoglm_core.testing` in their tests. The module is where "
           "the name is defined today; import it from the facade, not from there.", "",
           "| name | what | from |", "|---|---|---|"]
    for name in autoglm_core.__all__:
        obj = getattr(autoglm_core, name)
        what = "class" if inspect.isclass(obj) else "function" if inspect.isfunction(obj) else type(obj).__name__
        out.append(f"| `{name}` | {what} | `{sources.get(name, '?')}` |")
    return [*out, ""]


def render() -> str:
    lines = ["# API reference", "", f"Generated from the signatures by `{COMMAND}`: do not edit by hand. "
             "Guides: [plugins](plugins.md), [task types](task-types.md), [trackers](tracking.md).", "",
             *hooks_section(), *registries_section(), *components_section(), *facade_section()]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/api.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE} is out of date: run `{COMMAND}` from the repository root", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

