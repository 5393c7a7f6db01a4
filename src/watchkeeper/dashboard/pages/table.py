"""Tables the pages show, declared once so that the page and its download agree (R-D4).

A :class:`Table` is a name (the ``table=`` of its export links), its :class:`Column` s and the
rows a catalog query returned. The ``table`` macro (partials/macros.html) draws it; with
``?format=csv`` or ``?format=json`` :func:`export` answers the same rows as a file instead. A
column's kind says how a value reads on the page (``1,250``, ``12.5`` ms, a local time) and how
it travels in the file (a number, milliseconds, ISO 8601 UTC).

>>> routes = Table("routes", (Column("Route", "route"), Column("p95 ms", "p95_ns", "ms")), [])
>>> [column.field for column in routes.columns]
['route', 'p95_ms']
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from fastapi import HTTPException
from fastapi.responses import Response

from watchkeeper.dashboard.login import SECURITY_HEADERS, format_ms, format_number

if TYPE_CHECKING:
    from watchkeeper.dashboard.pages.view import View

NUMERIC: Final = frozenset({"count", "ms", "percent", "value", "usd"})
FORMATS: Final = {"csv": "text/csv; charset=utf-8", "json": "application/json"}

# A cell starting with one of these is a formula to spreadsheet programs; OWASP's "CSV
# Injection" advice is to prefix it with a quote so it stays text. Log lines are user data.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def format_time(ns: int | None) -> str:
    """A UTC timestamp (ns) as ``2025-01-31 12:00:03.125`` (app.js shows it in local time)."""
    if ns is None:
        return "–"
    moment = datetime.fromtimestamp(ns / 1e9, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def iso_time(ns: int | None) -> str | None:
    """A UTC timestamp (ns) as ISO 8601 with milliseconds: ``2025-01-31T12:00:03.125Z``."""
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def format_value(value: float | None) -> str:
    """A measured value with the digits that matter: 0.0042, 3.14, 1,250."""
    if value is None:
        return "–"
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"


def format_usd(value: float | None) -> str:
    """US dollars with the digits that matter: $1,234.50, $0.50, $0.0105, $0.000045; a dash for
    no value (an unpriced cost is unknown, not $0).

    >>> format_usd(1234.5), format_usd(0.5), format_usd(0.0105), format_usd(0.000045)
    ('$1,234.50', '$0.50', '$0.0105', '$0.000045')
    """
    if value is None:
        return "–"
    sign, size = "-" if value < 0 else "", abs(value)
    if size >= 1 or size == 0:
        return f"{sign}${size:,.2f}"
    # Three significant digits below a dollar (LLM calls cost fractions of a cent), at most 8
    # decimals, at least the cents.
    decimals = min(8, 2 - math.floor(math.log10(size)))
    text = f"{size:.{decimals}f}".rstrip("0")
    text += "0" * max(0, 2 - len(text.partition(".")[2]))
    return f"{sign}${text}" if float(text) else f"<${10**-decimals:.{decimals}f}"


SHOW: Final[dict[str, Callable[[Any], str]]] = {
    "text": lambda value: "" if value is None else str(value),
    # Ids padded from 64 bits (Zipkin, Jaeger) start with zeros; what tells them apart follows.
    "id": lambda value: "" if value is None else (str(value).lstrip("0") or "0")[:8],
    "count": format_number,
    "ms": format_ms,
    "percent": lambda value: "–" if value is None else f"{value:.1f}",
    "time": format_time,
    "value": format_value,
    "usd": format_usd,
    "json": lambda value: json.dumps(value, sort_keys=True) if value else "",
}
"""How each kind of cell reads on the page."""


@dataclass(frozen=True)
class Column:
    """One column: its header, the row key it shows and its kind (a key of :data:`SHOW`: an
    ``id`` is shortened on the page, whole in a download); ``link`` names a row key holding the
    cell's link; ``alert`` marks a value above zero (errors) in red."""

    label: str
    key: str
    kind: str = "text"
    link: str = ""
    alert: bool = False

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    @property
    def field(self) -> str:
        """The column's name in a download: the key, in ms where the page shows ms."""
        if self.kind == "ms":
            return self.key.removesuffix("_ns") + "_ms"
        return self.key

    def display(self, row: Mapping[str, Any]) -> str:
        """The cell's text on the page."""
        return SHOW[self.kind](row.get(self.key))

    def iso(self, row: Mapping[str, Any]) -> str | None:
        """A time cell's ISO 8601 UTC value (the ``datetime`` of its ``<time>``)."""
        return iso_time(row.get(self.key))

    def css(self, row: Mapping[str, Any]) -> str:
        """The cell's classes: ``num`` for numbers, ``id`` for ids, ``bad`` for an alerting
        value above 0."""
        classes = ["num"] if self.numeric else ["id"] if self.kind == "id" else []
        if self.alert and (row.get(self.key) or 0) > 0:
            classes.append("bad")
        return " ".join(classes)

    def value(self, row: Mapping[str, Any]) -> Any:
        """The cell in a download: numbers stay numbers, durations in ms, times ISO 8601 UTC."""
        value = row.get(self.key)
        if value is None:
            return None
        if self.kind == "ms":
            return round(value / 1e6, 3)
        if self.kind == "percent":
            return round(value, 2)
        if self.kind == "usd":
            return round(value, 8)
        if self.kind == "time":
            return iso_time(value)
        return value


@dataclass(frozen=True)
class Table:
    """A table of a page: what the ``table`` macro draws and :func:`export` downloads."""

    name: str
    columns: tuple[Column, ...]
    rows: Sequence[Mapping[str, Any]]

    def __bool__(self) -> bool:
        return bool(self.rows)


def chart_table(spec: Mapping[str, Any]) -> Table:
    """A chart's data (pages.chart.chart) as a table: one row per bucket, one column per series."""
    columns = [Column("Time", "bucket", "time")]
    rows: list[dict[str, Any]] = [{"bucket": x * 1_000_000_000} for x in spec["x"]]
    for series in spec["series"]:
        columns.append(Column(series["label"], series["label"], "value"))
        for row, value in zip(rows, series["values"], strict=True):
            row[series["label"]] = value
    return Table(spec["name"], tuple(columns), rows)


def _exportable(context: Mapping[str, Any]) -> Iterator[Table]:
    for value in context.values():
        if isinstance(value, Table):
            yield value
        elif isinstance(value, Mapping) and value.get("name") and "series" in value:
            yield chart_table(value)


def _csv_cell(column: Column, value: Any) -> Any:
    if value is None:
        return ""
    if column.kind == "json":
        value = json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export(view: View, context: Mapping[str, Any], name: str, fmt: str) -> Response:
    """The page's table (or chart) ``name`` as a CSV or JSON download of the rows it shows."""
    if fmt not in FORMATS:
        raise HTTPException(400, f"format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    found = next((t for t in _exportable(context) if t.name == name), None)
    if found is None:
        names = ", ".join(t.name for t in _exportable(context)) or "none"
        raise HTTPException(404, f"No table {name!r} on this page; it has: {names}.")
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")  # RFC 4180 line ends and quoting
        writer.writerow([column.field for column in found.columns])
        for row in found.rows:
            writer.writerow([_csv_cell(c, c.value(row)) for c in found.columns])
        body = text.getvalue()
    else:
        document = {
            "project": view.project.slug,
            "table": found.name,
            "since": iso_time(view.since),
            "until": iso_time(view.until),
            "columns": [column.field for column in found.columns],
            "rows": [{c.field: c.value(row) for c in found.columns} for row in found.rows],
        }
        body = json.dumps(document, ensure_ascii=False, indent=1)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", f"{view.project.slug}-{found.name}-{stamp}.{fmt}")
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=FORMATS[fmt], headers=headers)
