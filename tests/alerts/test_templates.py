"""Label and annotation templates: variables, functions, both call forms, and refusals."""

from __future__ import annotations

import pytest

from watchkeeper.alerts.templates import (
    TemplateError,
    compile_template,
    humanize,
    humanize_duration,
    render,
)


def test_variables_and_labels_are_filled_in() -> None:
    """$value, $labels.x and the rule's extras render; a missing label renders empty."""
    text = "{{ $labels.service }} at {{ $value }} (> {{ $threshold }}){{ $labels.none }}"
    assert render(text, value=7.5, labels={"service": "api"}, extra={"threshold": 5.0}) == (
        "api at 7.5 (> 5)"
    )


def test_functions_pipe_and_prefix_forms() -> None:
    """Functions take the piped value, or Prometheus' prefix form, and chain."""
    assert render("{{ $value | humanize }}", value=1_234_567) == "1.235M"
    assert render("{{ humanize $value }}", value=0.0042) == "4.2m"
    assert render("{{ $value | humanizePercentage }}", value=0.0712) == "7.12%"
    assert render('{{ $value | printf "%.1f" }}', value=2.345) == "2.3"
    assert render('{{ printf "%d" $value }}', value=41.9) == "41"
    assert render('{{ $labels.env | default "prod" | upper }}', labels={}) == "PROD"
    assert render('{{ "literal" | upper }}') == "LITERAL"


def test_humanize_edges() -> None:
    """Zero, negatives, durations below and above a second."""
    assert humanize(0) == "0"
    assert humanize(-2500) == "-2.5k"
    assert humanize_duration(0.25) == "250ms"
    assert humanize_duration(3725) == "1h 2m 5s"
    assert humanize_duration(None) == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ $foo }}", "unknown variable $foo"),
        ("{{ $value | eval }}", "unknown function 'eval'"),
        ('{{ $value | printf "%n" }}', "printf format '%n'"),
        ("{{ $value.__class__ }}", "unknown variable"),
        ("{{ range }}", "must start with a $variable"),
        ("{{ range $value }}", "unknown function 'range'"),
        ("{{ }}", "empty"),
        ("{{ $labels }}", "name one label"),
        ("{{ $value | printf }}", "printf takes 1 quoted argument"),
        ("oops }}", "unbalanced"),
        ("{{ 1 + 1 }}", "unexpected '1'"),
    ],
)
def test_refusals_say_why(text: str, message: str) -> None:
    """Anything outside the tiny language is refused when compiled, with the reason."""
    with pytest.raises(TemplateError, match=message.replace("$", r"\$").replace("(", r"\(")):
        compile_template(text)
