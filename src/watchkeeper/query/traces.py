"""Questions about traces: the list (one row per trace, its root, duration, errors) and one
trace's spans for the waterfall."""

from __future__ import annotations

from watchkeeper.query.clauses import WINDOW, Params, Query, window
from watchkeeper.query.sql import Dialect, Statement


def _list(d: Dialect, p: Params) -> Statement:
    # The root is the span that started first: a trace's entry span starts before its children,
    # and this stays right when the true root has not arrived (yet) from another service.
    having = []
    if p.get("service") is not None:
        # A trace "of a service" is one it took part in; its root and duration stay the whole
        # trace's (as Jaeger and Tempo list them), so the filter is on the group, not the rows.
        having.append(f"max(CASE WHEN service = {d.param('service')} THEN 1 ELSE 0 END) = 1")
    if p.get("errors"):
        having.append("max(CASE WHEN status = 'error' THEN 1 ELSE 0 END) = 1")
    if p.get("min_duration_ns") is not None:
        having.append(f"max(ts + duration_ns) - min(ts) >= {d.param('min_duration_ns')}")
    if p.get("name"):
        having.append(f"{d.arg_min('name', 'ts')} = {d.param('name')}")
    return Statement(
        f"SELECT trace_id, min(ts) AS start_ts, max(ts + duration_ns) - min(ts) AS duration_ns,"
        f" count(*) AS spans, count(DISTINCT service) AS services,"
        f" {d.arg_min('name', 'ts')} AS root_name, {d.arg_min('service', 'ts')} AS root_service,"
        f" sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors"
        f" FROM spans WHERE {window(d)} GROUP BY trace_id"
        f"{' HAVING ' + ' AND '.join(having) if having else ''}"
        f" ORDER BY start_ts DESC, trace_id LIMIT {d.param('limit')}",
        p,
    )


def _spans(d: Dialect, p: Params) -> Statement:
    return Statement(
        f"SELECT * FROM spans WHERE {window(d)} AND trace_id = {d.param('trace_id')}"
        f" ORDER BY ts, span_id",
        p,
    )


QUERIES = (
    Query(
        "traces.list",
        "Traces that started in the window, newest first: root span, duration, span count and"
        " errors; filters: service (one of the trace's), name (of the root), errors,"
        " min_duration_ns.",
        (*WINDOW, "limit"),
        _list,
    ),
    Query(
        "traces.spans",
        "Every span of one trace in the window, in start order.",
        (*WINDOW, "trace_id"),
        _spans,
    ),
)
