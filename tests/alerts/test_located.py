"""YAML with line numbers: values, paths, merges, and the errors a rules file can hit."""

from __future__ import annotations

import pytest

from watchkeeper.alerts.located import LocatedError, field_name, load


def test_values_and_their_lines() -> None:
    """Every mapping key and list item has the line it starts on; scalars get YAML's types."""
    values, lines = load("a:\n  - 1\n  - {b: true, c: 1.5}\nd: x\n")
    assert values == {"a": [1, {"b": True, "c": 1.5}], "d": "x"}
    assert lines[("a", 1, "c")] == 3
    assert lines[("d",)] == 4


def test_merge_keys_copy_what_is_not_set() -> None:
    """`<<: *anchor` fills keys the mapping does not set itself."""
    values, _ = load("base: &b {x: 1, y: 2}\nrule:\n  <<: *b\n  y: 3\n")
    assert values["rule"] == {"x": 1, "y": 3}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: [1\n", 2, "not valid YAML"),
        ("a: 1\na: 2\n", 2, "duplicate key 'a'"),
        ("a: !!python/object:os.system x\n", 1, "could not determine a constructor"),
        ("? [a]\n: 1\n", 1, "mapping keys must be plain names"),
    ],
)
def test_errors_carry_their_line(text: str, line: int, message: str) -> None:
    """Syntax errors, duplicate keys, unsafe tags and complex keys are refused at their line."""
    with pytest.raises(LocatedError, match=message) as caught:
        load(text)
    assert caught.value.line == line


def test_empty_document_and_field_names() -> None:
    """An empty file is None; paths print as a reader writes them."""
    assert load("") == (None, {})
    assert field_name(("rules", 0, "by", 2)) == "rules[0].by[2]"
