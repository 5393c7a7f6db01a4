"""YAML read with its line numbers, so a problem in a rules file names ``FILE:LINE: field``.

PyYAML's composer gives nodes with marks; :func:`load` turns them into plain values (safe
tags only) and a map from each value's path (``("rules", 2, "window")``) to its line.

>>> values, lines = load("rules:\\n  - name: a\\n    window: 5m\\n")
>>> values["rules"][0]["window"], lines[("rules", 0, "window")]
('5m', 3)
"""

from __future__ import annotations

from typing import Any

import yaml  # type: ignore[import-untyped]
from yaml.constructor import SafeConstructor  # type: ignore[import-untyped]
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode  # type: ignore[import-untyped]

Path = tuple[str | int, ...]
"""Where a value sits in a document: mapping keys and list indexes from the root."""

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"


class LocatedError(ValueError):
    """The text is not YAML, or holds a duplicate key; ``line`` is where (1-based)."""

    def __init__(self, message: str, line: int | None, path: Path = ()) -> None:
        super().__init__(message)
        self.line = line
        self.path = path


def field_name(path: Path) -> str:
    """A path as a reader writes it: ``rules[2].window``.

    >>> field_name(("rules", 2, "params", "service"))
    'rules[2].params.service'
    """
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def load(text: str) -> tuple[Any, dict[Path, int]]:
    """The document's values and the line of each path; :class:`LocatedError` when the text
    is not YAML. An empty document is ``None``."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise LocatedError(f"not valid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise LocatedError(f"not valid YAML: {exc}", None) from None
    lines: dict[Path, int] = {}
    if node is None:
        return None, lines
    return _Walker(lines).walk(node, ()), lines


class _Walker:
    def __init__(self, lines: dict[Path, int]) -> None:
        self.lines = lines
        self.constructor = SafeConstructor()

    def walk(self, node: Node, path: Path) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.walk(item, (*path, index)) for index, item in enumerate(node.value)]
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        raise LocatedError("unsupported YAML node", node.start_mark.line + 1, path)

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise LocatedError(exc.problem or str(exc), node.start_mark.line + 1, path) from None

    def _mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        inherited: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:  # `<<: *defaults` copies keys not set here
                merged = self.walk(value_node, path)
                for source in merged if isinstance(merged, list) else [merged]:
                    if isinstance(source, dict):
                        for key, value in source.items():
                            if key not in out:
                                out[key] = value
                                inherited.add(key)
                continue
            if not isinstance(key_node, ScalarNode):
                raise LocatedError("mapping keys must be plain names", key_node.start_mark.line + 1)
            key = self._scalar(key_node, path)
            if key in out and key not in inherited:
                raise LocatedError(
                    f"duplicate key {key!r}", key_node.start_mark.line + 1, (*path, str(key))
                )
            inherited.discard(key)
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = self.walk(value_node, (*path, key))
        return out
