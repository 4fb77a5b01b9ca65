"""Small file helpers: atomic writes (a killed run never leaves a half-written file) and
YAML/JSON reading with errors that name the file and line."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from autoglm_core.types.errors import ConfigError


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace`` (atomic on POSIX)."""
    return atomic_write_lines(path, [text], newline="")


def atomic_write_lines(path: str | Path, lines: Iterable[str], newline: str = "\n") -> Path:
    """Stream ``lines`` into a temporary file in the same folder, then ``os.replace`` it over
    ``path``: a killed process never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + newline)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def read_structured_file(path: str | Path) -> Any:
    """Read a YAML or JSON file; a syntax error names the file and line."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist.")
    if path.is_dir():
        raise ConfigError(f"config file {str(path)!r} is a folder; give a .yaml or .json file.")
    from autoglm_core.io.oserrors import describe_decode_error, describe_os_error

    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"config file: {describe_os_error(e, 'read')}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {describe_decode_error(e, path, raw)}") from None
    if path.suffix.lower() == ".json":
        from autoglm_core.io.json_limits import JSONLimitError, check_json_limits

        try:
            check_json_limits(text)
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: line {e.lineno}, column {e.colno}: invalid JSON: {e.msg}.") from None
        except JSONLimitError as e:
            raise ConfigError(f"{path}: {e}") from None
    import yaml

    from autoglm_core.io.json_limits import JSONLimitError, check_json_limits

    try:  # flow collections ([...], {...}) nest like JSON; the parser takes seconds to fail on deep ones
        check_json_limits(text, max_int_digits=10**9)
    except JSONLimitError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    try:
        return _load_yaml(text, path)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: {where}invalid YAML: {getattr(e, 'problem', e)}.") from None
    except RecursionError:  # the YAML parser recurses once per nesting level
        raise ConfigError(f"{path}: invalid YAML: nested too deeply for a config file.") from None
    except ValueError as e:  # an integer beyond Python's 4300-digit conversion limit
        raise ConfigError(f"{path}: invalid YAML: {e}.") from None


def _load_yaml(text: str, path: Path) -> Any:
    """yaml.load with :func:`_unique_key_loader`, refusing alias bombs before a value is built.
    The loader's constructor already reads the text (and rejects unprintable characters), so it
    stands inside the caller's error handling."""
    loader = _unique_key_loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node, path)
        return loader.construct_document(node)
    finally:
        loader.dispose()


#: values a YAML document may hold once its aliases are expanded (a config file holds hundreds)
MAX_YAML_VALUES = 100_000


def _check_expanded_size(root: Any, path: Path) -> None:
    """Refuse a document whose aliases expand to more than :data:`MAX_YAML_VALUES` values.

    An alias shares one Python object, so loading nine levels of nine aliases is fast; but every
    walk over the result (validation, the checks for finite numbers, printing the config) visits
    9**9 values and never ends. Counting on the composed node graph, each node once with its size
    remembered, costs one pass over the file's own nodes."""
    import yaml

    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # entered and not finished: the ancestors of what is being counted
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if not children_done and id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if children_done:
            open_nodes.discard(id(node))
            total = 1 + sum(sizes[id(child)] for child in children)
            if total > MAX_YAML_VALUES:
                line = node.start_mark.line + 1
                raise ConfigError(f"{path}: line {line}: invalid YAML: its aliases expand to more than "
                                  f"{MAX_YAML_VALUES:,} values; a config file holds far fewer (write the "
                                  "values out, or use fewer levels of aliases).")
            sizes[id(node)] = total
            continue
        if id(node) in open_nodes:
            line = node.start_mark.line + 1
            raise ConfigError(f"{path}: line {line}: invalid YAML: an alias refers to a value that contains it.")
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def _unique_key_loader() -> Any:
    """A yaml SafeLoader on which a key given twice in one mapping is an error naming both lines
    (plain safe_load keeps the last value silently, so a typo'd override would win unseen)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *base' may be overridden, by design
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    break
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first on line {first.start_mark.line + 1})",
                        key_node.start_mark)
                seen[key] = key_node
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader
