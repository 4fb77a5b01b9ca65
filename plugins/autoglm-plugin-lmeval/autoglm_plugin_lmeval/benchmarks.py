"""Benchmark folders that plugins register, and the lm-eval task manager that sees them.

A plugin registers ``Benchmark(name, path, ...)`` through ``autoglm_register_benchmarks``: ``path``
is a folder of lm-eval task YAML files plus their data. lm-eval hands ``dataset_kwargs.data_files``
straight to ``datasets.load_dataset``, which resolves relative paths against the *current working
directory*, so a YAML shipped inside an installed package could only use absolute paths. We make
relative ``data_files`` mean "relative to the YAML file": when a folder has such paths, a mirror of
it is written into the cache directory with those paths made absolute (other files are symlinked,
so ``!function`` helpers still import from the original folder). Folders without relative
``data_files`` are passed to lm-eval unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoglm_core import Benchmark, ConfigError, UnknownNameError, did_you_mean

from .paths import cache_root

YAML_SUFFIXES = (".yaml", ".yml")
_IGNORE_DIRS = {"__pycache__", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class BenchmarkFolder:
    benchmark: Benchmark
    plugin: str
    source: Path  # the folder the plugin registered
    folder: Path  # the folder lm-eval indexes (``source`` or its resolved mirror)


# --------------------------------------------------------------------------- YAML with !function tags


class _FunctionTag(str):
    """``!function module.fn`` kept verbatim while we rewrite a YAML file."""


def _yaml_load(path: Path) -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: _FunctionTag(loader.construct_scalar(node)))
    with path.open("rb") as fh:
        return yaml.load(fh, Loader=Loader)  # noqa: S506 - SafeLoader plus one string tag


def _yaml_dump(data: Any) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_FunctionTag, lambda dumper, value: dumper.represent_scalar("!function", str(value)))
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True)


def _iter_yaml(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORE_DIRS)
        for fn in sorted(filenames):
            if fn.endswith(YAML_SUFFIXES):
                yield Path(dirpath) / fn


def _map_data_files(value: Any, fn) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_data_files(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_data_files(v, fn) for k, v in value.items()}
    return value


def _is_relative_local(p: str) -> bool:
    return not (os.path.isabs(p) or "://" in p or p.startswith(("hf://", "~")))


def data_files_of(cfg: Any) -> Any:
    if isinstance(cfg, dict) and isinstance(cfg.get("dataset_kwargs"), dict):
        return cfg["dataset_kwargs"].get("data_files")
    return None


def _flatten(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flatten(v)]
    return []


def _needs_resolving(root: Path) -> list[Path]:
    out = []
    for yml in _iter_yaml(root):
        try:
            cfg = _yaml_load(yml)
        except Exception:  # lm-eval skips YAML it cannot parse; so do we
            continue
        if any(_is_relative_local(p) for p in _flatten(data_files_of(cfg))):
            out.append(yml)
    return out


def resolve_folder(bench: Benchmark, plugin: str, root: Path | None = None) -> BenchmarkFolder:
    """The folder lm-eval should index for ``bench`` (see the module docstring)."""
    source = Path(bench.path).expanduser()
    if not source.is_dir():
        raise ConfigError(
            f"benchmark {bench.name!r} registered by plugin {plugin!r} points to {str(source)!r}, which is "
            f"not a folder. Register the folder that holds the task YAML files (Benchmark(path=...))."
        )
    source = source.resolve()
    to_rewrite = _needs_resolving(source)
    if not to_rewrite:
        return BenchmarkFolder(bench, plugin, source, source)
    # Key the mirror by location and content, so an edited YAML gets a fresh mirror.
    h = hashlib.sha256(str(source).encode())
    for yml in _iter_yaml(source):
        h.update(str(yml.relative_to(source)).encode() + b"\0" + yml.read_bytes())
    dest = (root or cache_root()) / "benchmarks" / f"{_safe(bench.name)}-{h.hexdigest()[:16]}"
    if not dest.is_dir():
        _write_mirror(source, dest, set(to_rewrite))
    return BenchmarkFolder(bench, plugin, source, dest)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _write_mirror(source: Path, dest: Path, to_rewrite: set[Path]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames[:] = [d for d in dirnames if d not in _IGNORE_DIRS]
            rel = Path(dirpath).relative_to(source)
            (tmp / rel).mkdir(parents=True, exist_ok=True)
            for fn in filenames:
                src = Path(dirpath) / fn
                if src in to_rewrite:
                    cfg = _yaml_load(src)
                    base = src.parent

                    def absolute(p: str, base: Path = base) -> str:
                        return str((base / p).resolve()) if _is_relative_local(p) else p

                    cfg["dataset_kwargs"]["data_files"] = _map_data_files(data_files_of(cfg), absolute)
                    header = f"# generated by autoglm-plugin-lmeval from {src} (data_files made absolute)\n"
                    (tmp / rel / fn).write_text(header + _yaml_dump(cfg), encoding="utf-8")
                else:
                    os.symlink(src, tmp / rel / fn)
        try:
            os.rename(tmp, dest)
        except OSError:  # another process wrote the same mirror first: theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --------------------------------------------------------------------------- registry -> folders


def plugin_benchmarks(manager: Any = None, root: Path | None = None) -> list[BenchmarkFolder]:
    """Every registered benchmark, with the folder lm-eval should index."""
    from autoglm_core import get_manager

    manager = manager or get_manager()
    out = []
    for entry in manager.registry("benchmark").entries():
        bench = entry.obj
        if not isinstance(bench, Benchmark):
            raise ConfigError(
                f"plugin {entry.plugin!r} registered {bench!r} as a benchmark; register an "
                f"autoglm_core.plugin.components.Benchmark(name=..., path=..., description=...) instance."
            )
        out.append(resolve_folder(bench, entry.plugin, root))
    return out


@dataclass
class TaskCatalog:
    """An lm-eval TaskManager plus which plugin each name came from."""

    manager: Any  # lm_eval.tasks.TaskManager
    folders: list[BenchmarkFolder]
    includes_lm_eval: bool

    def source_of(self, name: str) -> str:
        entry = self.manager.task_index.get(name)
        path = getattr(entry, "yaml_path", None)
        if path is not None:
            path = Path(path).resolve()
            for f in self.folders:
                if path.is_relative_to(f.folder.resolve()) or path.is_relative_to(f.source):
                    return f.plugin
        return "lm-eval"

    def benchmark(self, name: str) -> BenchmarkFolder | None:
        return next((f for f in self.folders if f.benchmark.name == name), None)

    def tasks_of(self, folder: BenchmarkFolder) -> list[str]:
        """The benchmark's declared tasks, or every task/group/tag its folder defines."""
        if folder.benchmark.tasks:
            return list(folder.benchmark.tasks)
        return sorted(n for n in self.manager.all_tasks if self.source_of(n) == folder.plugin
                      and _under(self.manager.task_index[n].yaml_path, folder.folder))

    def known(self) -> list[str]:
        return sorted(set(self.manager.all_tasks) | {f.benchmark.name for f in self.folders})

    def expand(self, names: list[str]) -> list[str] | None:
        """Task specs for lm-eval, or None when some name is not known to this catalog."""
        out: list[str] = []
        for name in names:
            folder = self.benchmark(name)
            if folder is not None and name not in self.manager.task_index:
                out.extend(self.tasks_of(folder))
            elif name in self.manager.task_index or name.endswith(YAML_SUFFIXES) and Path(name).is_file():
                out.append(name)
            else:
                return None
        return list(dict.fromkeys(out))


def _under(path: Any, folder: Path) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(folder.resolve())


def task_catalog(*, include_lm_eval: bool = True, metadata: dict[str, Any] | None = None,
                 manager: Any = None, root: Path | None = None) -> TaskCatalog:
    """Build lm-eval's TaskManager over the plugin folders (and lm-eval's own ~15k tasks when asked;
    indexing those takes a few seconds)."""
    from lm_eval.tasks import TaskManager

    folders = plugin_benchmarks(manager, root)
    tm = TaskManager(include_path=[str(f.folder) for f in folders] or None,
                     include_defaults=include_lm_eval, metadata=metadata)
    return TaskCatalog(tm, folders, include_lm_eval)


def select_tasks(names: list[str], *, metadata: dict[str, Any] | None = None, manager: Any = None,
                 root: Path | None = None) -> tuple[TaskCatalog, list[str]]:
    """Resolve benchmark/task names; index lm-eval's own tasks only when a name needs them."""
    names = [n.strip() for n in names if n and n.strip()]
    if not names:
        raise ConfigError("no benchmark given: name at least one lm-eval task or benchmark "
                          "(`autoglm benchmarks` lists them).")
    catalog = task_catalog(include_lm_eval=False, metadata=metadata, manager=manager, root=root)
    specs = catalog.expand(names)
    if specs is None:
        catalog = task_catalog(include_lm_eval=True, metadata=metadata, manager=manager, root=root)
        specs = catalog.expand(names)
    if specs is None:
        known = catalog.known()
        bad = next(n for n in names if catalog.expand([n]) is None)
        raise UnknownNameError(
            f"unknown benchmark {bad!r}.{did_you_mean(bad, known)} It is neither an lm-eval task, group "
            f"or tag nor a benchmark registered by a plugin ({len(known)} known). `autoglm benchmarks` "
            f"lists them; a plugin adds its own through the autoglm_register_benchmarks hook."
        )
    if not specs:
        raise ConfigError(f"benchmark(s) {', '.join(names)} define no lm-eval tasks.")
    return catalog, specs
