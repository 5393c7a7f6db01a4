"""Tables and their downloads (pages/table.py): the same rows as the page, quoted right."""

from __future__ import annotations

import csv
import io
import json

import pytest
from tests.dashboard.conftest import Dashboard, log

from watchkeeper.dashboard.pages.table import Column, format_time, format_value, iso_time

AWKWARD = 'said "hi", then\nleft; 50% done'


def test_csv_quotes_commas_quotes_and_newlines(logged_in: Dashboard) -> None:
    """A CSV cell with a comma, a quote or a line break is quoted (RFC 4180) and reads back."""
    logged_in.write(log(AWKWARD, attributes={"k": "v"}))
    response = logged_in.client.get("/logs?table=lines&format=csv")
    assert response.status_code == 200
    assert '"said ""hi"", then\nleft; 50% done"' in response.text
    assert response.text.endswith("\r\n")
    header, row = list(csv.reader(io.StringIO(response.text)))
    assert header == ["ts", "severity_text", "service", "logger", "body", "trace_id", "span_id",
                      "attributes"]  # fmt: skip
    assert row[4] == AWKWARD and json.loads(row[7]) == {"k": "v"}
    assert row[0].endswith("Z") and "T" in row[0]


def test_csv_keeps_spreadsheet_formulas_as_text(logged_in: Dashboard) -> None:
    """A text cell starting like a formula (=, +, -, @) gets a leading quote; JSON keeps it."""
    logged_in.write(log('=HYPERLINK("http://evil.example")'), log("-2+3", ago_s=61))
    rows = list(csv.reader(io.StringIO(logged_in.client.get("/logs?table=lines&format=csv").text)))
    assert [row[4] for row in rows[1:]] == ['\'=HYPERLINK("http://evil.example")', "'-2+3"]
    document = logged_in.client.get("/logs?table=lines&format=json").json()
    assert [row["body"] for row in document["rows"]] == [
        '=HYPERLINK("http://evil.example")',
        "-2+3",
    ]


def test_json_download_names_the_project_window_and_columns(logged_in: Dashboard) -> None:
    """A JSON download says what it holds: project, table, window and column names."""
    logged_in.write(log("hello"))
    response = logged_in.client.get("/logs?table=lines&format=json&range=6h")
    assert response.headers["content-type"] == "application/json"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="shop-lines-') and disposition.endswith(
        '.json"'
    )
    document = response.json()
    assert document["project"] == "shop" and document["table"] == "lines"
    assert document["since"] < document["until"] and document["columns"][0] == "ts"
    assert [row["body"] for row in document["rows"]] == ["hello"]


def test_unknown_table_is_404_naming_the_ones_there(logged_in: Dashboard) -> None:
    """Asking a page for a table it does not have answers 404 with the tables it has."""
    response = logged_in.client.get("/?table=nope&format=csv")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "top_events" in detail and "slowest_spans" in detail and "event_rate" in detail


def test_unknown_format_is_400(logged_in: Dashboard) -> None:
    """Only csv and json are offered."""
    response = logged_in.client.get("/?table=top_events&format=xlsx")
    assert response.status_code == 400
    assert "csv, json" in response.json()["detail"]


def test_download_of_another_project_is_404(logged_in: Dashboard) -> None:
    """Export goes through the same project check as the page."""
    logged_in.services.meta.ensure_project("secret")
    assert logged_in.client.get("/?project=secret&table=top_events&format=csv").status_code == 404


@pytest.mark.parametrize(
    ("kind", "value", "shown", "exported"),
    [
        ("count", 1250, "1,250", 1250),
        ("ms", 12_500_000, "12.5", 12.5),
        ("percent", 8.333, "8.3", 8.33),
        ("value", 0.004321, "0.0043", 0.004321),
        ("id", "0000000000000000c0ffee0000000001", "c0ffee00", "0000000000000000c0ffee0000000001"),
        ("time", 1_700_000_000_123_000_000, "2023-11-14 22:13:20.123", "2023-11-14T22:13:20.123Z"),
        ("text", None, "", None),
    ],
)
def test_column_kinds_read_on_the_page_and_travel_in_files(
    kind: str, value: object, shown: str, exported: object
) -> None:
    """Each kind of column has a page form (grouped, ms, local time) and a file form."""
    column = Column("X", "x", kind)
    assert column.display({"x": value}) == shown
    assert column.value({"x": value}) == exported


def test_formatting_helpers() -> None:
    """Times are UTC to the millisecond; values keep the digits that matter."""
    assert format_time(None) == "–" and iso_time(None) is None
    assert (
        format_value(1234.5) == "1,234" and format_value(3.10) == "3.1" and format_value(0) == "0"
    )
    assert Column("p95", "p95_ns", "ms").field == "p95_ms"
    assert Column("Errors", "errors", "count", alert=True).css({"errors": 2}) == "num bad"
