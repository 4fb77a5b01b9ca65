"""``autoglm plugin new NAME``: write an installable, tested plugin package to start from."""

from __future__ import annotations

import argparse

from autoglm_core import hookimpl


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plugin", help="plugin authoring: `autoglm plugin new NAME` writes a plugin package",
                              description="Tools for plugin authors.")
    sub = p.add_subparsers(title="plugin commands", metavar="SUBCOMMAND")
    new = sub.add_parser("new", help="write autoglm-plugin-NAME/: pyproject with the entry point, a component, a test",
                         description="Write an installable plugin package: pyproject.toml (entry point group "
                                     "'autoglm'), a module registering one component, a pytest test and a README.")
    new.add_argument("name", metavar="NAME", help="plugin name: lower case, digits, dashes (e.g. text-stats)")
    new.add_argument("--dir", default=".", help="folder to create the package in (default: the current folder)")
    new.set_defaults(handler=_new)
    p.set_defaults(handler=lambda args: p.print_help() or 2)


def _new(args: argparse.Namespace) -> int:
    from autoglm_core.plugin.template import write_package

    root = write_package(args.name, args.dir)
    print(f"Wrote {root}/ (pyproject.toml, README.md, a module, tests/).\n"
          f"Next: pip install -e {root} && python -m pytest {root}/tests")
    return 0
