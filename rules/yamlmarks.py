"""YAML loading that remembers line numbers, so that every configuration error can name its file and line.

``load(path)`` returns plain-looking dicts and lists (``MarkedDict`` / ``MarkedList``) that also carry the line
of each key or item. ``ConfigFileError`` is the one error type of the rules directory: file, line, reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigFileError", "MarkedDict", "MarkedList", "load", "line_of"]


class ConfigFileError(Exception):
    """A rules-directory file is wrong; ``str()`` reads ``file:line: reason``."""

    def __init__(self, file: str | Path, line: int | None, reason: str) -> None:
        self.file = str(file)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.file}:{line if line is not None else '?'}: {reason}")


class MarkedDict(dict[Any, Any]):
    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class MarkedList(list[Any]):
    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    out = MarkedDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise ConfigFileError(loader.name, key_node.start_mark.line + 1, f"duplicate key {key!r}")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    out = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load(path: str | Path) -> Any:
    """Parse one YAML file; syntax errors become ``ConfigFileError`` with the line of the problem."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    loader = _Loader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigFileError(path, mark.line + 1 if mark else None,
                              f"not valid YAML: {exc.problem or exc.context}") from None
    finally:
        loader.dispose()


def line_of(container: Any, key: Any = None) -> int | None:
    """Line of ``container[key]`` (or of the container itself) when it came from ``load``."""
    if isinstance(container, MarkedDict):
        return container.line_of(key) if key is not None else container.line
    if isinstance(container, MarkedList):
        return container.line_of(key) if isinstance(key, int) else container.line
    return None
