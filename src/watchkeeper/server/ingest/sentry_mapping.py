"""Sentry payloads as records: an ``event`` becomes an :class:`~watchkeeper.records.Error`, a
``transaction`` its :class:`~watchkeeper.records.Span` tree (docs/server.md, "Sentry SDKs").

The payloads are the JSON of Sentry's event protocol (develop-docs/sdk/data-model/event-payloads)
as sentry-sdk 2.x sends it. Mapping never fails on a field of an unexpected shape: what does not
fit is left out, strings are cut to the contract's limits and attributes stop at
``MAX_ATTRIBUTES`` (the most useful layers first). Only a payload that is not a JSON object is
refused (:class:`MappingError`).

>>> error = event_to_error({"event_id": "ab" * 16, "timestamp": 1.5, "message": "disk full"})
>>> error.type, error.message, error.ts
('Message', 'disk full', 1500000000)
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime
from typing import Any, Final

from watchkeeper.records import (
    AttributeValue,
    Breadcrumb,
    Error,
    Frame,
    Log,
    Span,
    SpanKind,
    SpanStatus,
)
from watchkeeper.server.ingest.otlp_mapping import MAX_TS, NAME, SHORT, TEXT, merge

Attributes = dict[str, AttributeValue]

MESSAGE_TYPE: Final = "Message"
"""``type`` of an event without an exception (``capture_message``, a logged error)."""

MAX_FRAMES: Final = 256
MAX_BREADCRUMBS: Final = 200
MAX_FINGERPRINT: Final = 16
ATTRIBUTE_TEXT: Final = 1024
"""Attribute strings are cut here: they are for filtering and display, not for bodies."""

SENSITIVE_HEADER: Final = re.compile(
    r"authorization|cookie|token|secret|passw|api[-_]?key|x-sentry-auth|session|csrf|xsrf", re.I
)
_HEX32: Final = re.compile(r"[0-9a-f]{32}")
_HEX16: Final = re.compile(r"[0-9a-f]{16}")
_LEVELS: Final = {
    "fatal": "fatal", "critical": "fatal", "error": "error", "warning": "warning",
    "warn": "warning", "info": "info", "log": "info", "debug": "debug", "trace": "debug",
}  # fmt: skip
_SEVERITY: Final = {"fatal": (21, "FATAL"), "error": (17, "ERROR"), "warning": (13, "WARN"),
                    "info": (9, "INFO"), "debug": (5, "DEBUG")}  # fmt: skip
# Sentry span status (develop-docs/sdk/data-model/event-payloads/span) -> the record's.
_SPAN_KINDS: Final[dict[str, SpanKind]] = {
    "http.server": "server", "http.client": "client", "queue.publish": "producer",
    "queue.process": "consumer", "websocket.server": "server",
}  # fmt: skip


class MappingError(ValueError):
    """A payload that cannot become records at all."""


def _dict(found: Any) -> dict[str, Any]:
    return found if isinstance(found, dict) else {}


def _list(found: Any) -> list[Any]:
    return found if isinstance(found, list) else []


def _str(found: Any, limit: int = SHORT) -> str:
    if found is None or isinstance(found, dict | list):
        return ""
    return str(found)[:limit]


def timestamp_ns(found: Any, default: int | None = None) -> int:
    """A Sentry timestamp (epoch seconds as a number, or RFC 3339 text) in ns; ``default``
    (now) when absent or unreadable."""
    ns: int | None = None
    if isinstance(found, int | float) and not isinstance(found, bool):
        ns = int(found * 1e9)
    elif isinstance(found, str):
        try:
            ns = int(datetime.fromisoformat(found.replace("Z", "+00:00")).timestamp() * 1e9)
        except ValueError:
            ns = None
    if ns is None or not 0 <= ns <= MAX_TS:
        return default if default is not None else time.time_ns()
    return ns


def _id(found: Any, pattern: re.Pattern[str]) -> str | None:
    text = _str(found).lower().replace("-", "")
    return text if pattern.fullmatch(text) else None


def _scalar(found: Any) -> AttributeValue:
    if isinstance(found, str):
        return found[:ATTRIBUTE_TEXT]
    if found is None or isinstance(found, int | float):
        return found
    if isinstance(found, list) and all(isinstance(x, str | int | float) for x in found):
        return [x[:ATTRIBUTE_TEXT] if isinstance(x, str) else x for x in found][:64]
    return json.dumps(found, ensure_ascii=False, default=str)[:ATTRIBUTE_TEXT]


def flatten(found: Any, prefix: str = "", depth: int = 3) -> Attributes:
    """A JSON object as a flat attribute map with dotted keys (``os.name``)."""
    flat: Attributes = {}
    for key, item in _dict(found).items():
        name = f"{prefix}{key}"[:SHORT]
        if isinstance(item, dict) and depth > 1:
            flat.update(flatten(item, f"{name}.", depth - 1))
        elif item is not None:
            flat[name] = _scalar(item)
    return flat


def _tags(found: Any) -> Attributes:
    # Tags are an object, or (older SDKs) a list of [key, value] pairs.
    if isinstance(found, list):
        found = {p[0]: p[1] for p in found if isinstance(p, list | tuple) and len(p) == 2}
    return {_str(k): _scalar(_str(v, ATTRIBUTE_TEXT)) for k, v in _dict(found).items() if k}


def request_attributes(request: Any) -> Attributes:
    """The request interface in OpenTelemetry's names; credentials-like headers are dropped."""
    request = _dict(request)
    flat: Attributes = {}
    for name, key in (("method", "http.request.method"), ("url", "url.full"),
                      ("query_string", "url.query")):  # fmt: skip
        if isinstance(request.get(name), str) and request[name]:
            flat[key] = request[name][:ATTRIBUTE_TEXT]
    headers = request.get("headers")
    if isinstance(headers, list):  # [[name, value], ...] is allowed too
        headers = {p[0]: p[1] for p in headers if isinstance(p, list) and len(p) == 2}
    for name, item in _dict(headers).items():
        if not SENSITIVE_HEADER.search(str(name)):
            flat[f"http.request.header.{str(name).lower()}"[:SHORT]] = _scalar(_str(item, 1024))
    return flat


def _common(payload: dict[str, Any]) -> dict[str, Any]:
    """Fields every record of a payload shares."""
    user = _dict(payload.get("user"))
    user_id = next(
        (_str(user[k]) for k in ("id", "email", "ip_address")
         if user.get(k) not in (None, "", "{{auto}}")),
        "",
    )  # fmt: skip
    tags = _dict(payload.get("tags"))
    return {
        "service": _str(tags.get("service.name") or tags.get("service")),
        "environment": _str(payload.get("environment")),
        "release": _str(payload.get("release")),
        "user_id": user_id,
    }


def _sentry_attributes(payload: dict[str, Any]) -> Attributes:
    sdk = _dict(payload.get("sdk"))
    found: dict[str, Any] = {
        "host.name": payload.get("server_name"),
        "transaction": payload.get("transaction"),
        "logger.name": payload.get("logger"),
        "sentry.platform": payload.get("platform"),
        "sentry.sdk.name": sdk.get("name"),
        "sentry.sdk.version": sdk.get("version"),
        "dist": payload.get("dist"),
        "user.email": _dict(payload.get("user")).get("email"),
        "user.name": _dict(payload.get("user")).get("username"),
    }
    return {k: _scalar(_str(v, ATTRIBUTE_TEXT)) for k, v in found.items() if _str(v)}


def _frame(found: Any) -> Frame:
    frame = _dict(found)
    lineno = frame.get("lineno")
    return Frame(
        module=_str(frame.get("module")),
        function=_str(frame.get("function")),
        filename=_str(frame.get("filename") or frame.get("abs_path"), 1024),
        lineno=lineno if isinstance(lineno, int) and lineno >= 0 else 0,
        in_app=frame.get("in_app") is True,
        context_line=_str(frame.get("context_line"), TEXT),
        pre_context=[_str(line, TEXT) for line in _list(frame.get("pre_context"))][-10:],
        post_context=[_str(line, TEXT) for line in _list(frame.get("post_context"))][:10],
    )


def _frames(stacktrace: Any) -> list[Frame]:
    return [_frame(f) for f in _list(_dict(stacktrace).get("frames"))[-MAX_FRAMES:]]


def _breadcrumb(found: Any, default_ts: int) -> Breadcrumb | None:
    crumb = _dict(found)
    if not crumb:
        return None
    data = flatten(crumb.get("data"))
    if crumb.get("type") not in (None, "default"):
        data.setdefault("type", _str(crumb["type"]))
    return Breadcrumb(
        ts=timestamp_ns(crumb.get("timestamp"), default_ts),
        category=_str(crumb.get("category")),
        message=_str(crumb.get("message"), TEXT),
        level=_LEVELS.get(_str(crumb.get("level")).lower(), "info"),  # type: ignore[arg-type]
        data=merge(data),
    )


def _message(payload: dict[str, Any]) -> str:
    logentry = payload.get("logentry") or payload.get("message")
    if isinstance(logentry, dict):
        return _str(logentry.get("formatted") or logentry.get("message"), TEXT)
    return _str(logentry, TEXT)


def event_to_error(payload: Any, event_id: str = "") -> Error:
    """An ``event`` payload as an error record; its ``event_id`` (else ``event_id``, else a new
    one) is the record's id, so a resent event is stored once."""
    if not isinstance(payload, dict):
        raise MappingError("the event payload is not a JSON object")
    now = time.time_ns()
    ts = timestamp_ns(payload.get("timestamp"), now)
    exception = payload.get("exception")
    values = [_dict(v) for v in (_list(exception) or _list(_dict(exception).get("values")))]
    values = [v for v in values if v]
    attributes: Attributes = {}
    if values:
        main = values[-1]  # cause first, the raised exception last
        type_ = _str(main.get("type")) or MESSAGE_TYPE
        message = _str(main.get("value"), TEXT)
        frames = _frames(main.get("stacktrace"))
        handled = all(_dict(v.get("mechanism")).get("handled") is not False for v in values)
        mechanism = _str(_dict(main.get("mechanism")).get("type"))
        if mechanism:
            attributes["exception.mechanism"] = mechanism
        if len(values) > 1:
            attributes["exception.chain"] = [_str(v.get("type")) for v in values]
        if not message:
            message = _message(payload)
    else:
        type_ = MESSAGE_TYPE
        message = _message(payload) or "<unlabeled event>"
        threads = _list(_dict(payload.get("threads")).get("values"))
        stacktrace = payload.get("stacktrace") or next(
            (t.get("stacktrace") for t in map(_dict, threads) if t.get("stacktrace")), None
        )
        frames = _frames(stacktrace)
        handled = True
    trace = _dict(_dict(payload.get("contexts")).get("trace"))
    crumbs = _dict(payload.get("breadcrumbs")).get("values", payload.get("breadcrumbs"))
    breadcrumbs = [b for b in (_breadcrumb(c, ts) for c in _list(crumbs)) if b]
    contexts = {k: v for k, v in _dict(payload.get("contexts")).items() if k != "trace"}
    return Error(
        id=_str(payload.get("event_id"), 64) or event_id or uuid.uuid4().hex,
        ts=ts,
        type=type_,
        message=message,
        level=_LEVELS.get(_str(payload.get("level")).lower(), "error"),  # type: ignore[arg-type]
        handled=handled,
        frames=frames,
        fingerprint=[_str(f) for f in _list(payload.get("fingerprint"))][:MAX_FINGERPRINT],
        breadcrumbs=breadcrumbs[-MAX_BREADCRUMBS:],
        trace_id=_id(trace.get("trace_id"), _HEX32),
        span_id=_id(trace.get("span_id"), _HEX16),
        attributes=merge(
            attributes,
            _sentry_attributes(payload),
            request_attributes(payload.get("request")),
            _tags(payload.get("tags")),
            flatten(contexts),
            flatten(payload.get("extra"), "extra."),
        ),
        **_common(payload),
    )


def _status(found: Any) -> tuple[SpanStatus, str]:
    status = _str(found)
    if status in ("", "unknown"):
        return "unset", ""
    return ("ok", "") if status == "ok" else ("error", status)


def _span(
    item: dict[str, Any], trace_id: str, common: dict[str, Any], extra: Attributes, name: str
) -> Span | None:
    span_id = _id(item.get("span_id"), _HEX16)
    trace_id = _id(item.get("trace_id"), _HEX32) or trace_id
    if span_id is None:
        return None
    start = timestamp_ns(item.get("start_timestamp"))
    end = timestamp_ns(item.get("timestamp"), start)
    op = _str(item.get("op"))
    status, status_message = _status(item.get("status"))
    return Span(
        id=f"{trace_id}{span_id}",
        ts=start,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=_id(item.get("parent_span_id"), _HEX16),
        name=(name or _str(item.get("description"), NAME) or op or "span")[:NAME],
        duration_ns=max(0, end - start),
        span_kind=_SPAN_KINDS.get(op, "internal"),
        status=status,
        status_message=status_message,
        attributes=merge(
            {"sentry.op": op} if op else {},
            {"sentry.description": _str(item.get("description"), ATTRIBUTE_TEXT)}
            if name and item.get("description")
            else {},
            extra,
            _tags(item.get("tags")),
            flatten(item.get("data")),
        ),
        **common,
    )


def transaction_to_spans(payload: Any) -> list[Span]:
    """A ``transaction`` payload as spans: the transaction itself (its trace context) as the
    root, then its child spans. Spans without a valid id are left out."""
    if not isinstance(payload, dict):
        raise MappingError("the transaction payload is not a JSON object")
    trace = _dict(_dict(payload.get("contexts")).get("trace"))
    trace_id = _id(trace.get("trace_id"), _HEX32)
    if trace_id is None:
        return []
    common = _common(payload)
    root = {
        **trace,
        "start_timestamp": payload.get("start_timestamp"),
        "timestamp": payload.get("timestamp"),
        "tags": payload.get("tags"),
    }
    name = _str(payload.get("transaction"), NAME) or _str(trace.get("op")) or "transaction"
    contexts = {k: v for k, v in _dict(payload.get("contexts")).items() if k != "trace"}
    found = [
        _span(root, trace_id, common, merge(_sentry_attributes(payload),
              request_attributes(payload.get("request")), flatten(contexts)), name)
    ]  # fmt: skip
    found += [_span(_dict(s), trace_id, common, {}, "") for s in _list(payload.get("spans"))]
    return [span for span in found if span is not None]


def log_items(payload: Any, envelope_ts: int | None = None) -> list[Log]:
    """A ``log`` item's ``{"items": [...]}`` (``enable_logs=True``) as log records."""
    logs: list[Log] = []
    for index, item in enumerate(map(_dict, _list(_dict(payload).get("items")))):
        attrs = {
            _str(k): _dict(v).get("value") for k, v in _dict(item.get("attributes")).items() if k
        }
        level = _LEVELS.get(_str(item.get("level")).lower(), "info")
        number, text = _SEVERITY[level]
        ts = timestamp_ns(item.get("timestamp"), envelope_ts)
        trace_id = _id(item.get("trace_id"), _HEX32)
        logs.append(
            Log(
                id=f"sentry-{trace_id or ''}-{ts}-{index}"[:64],
                ts=ts,
                body=_str(item.get("body"), TEXT),
                severity_number=number,
                severity_text=text,
                logger=_str(attrs.pop("logger.name", "")),
                trace_id=trace_id,
                span_id=_id(item.get("span_id"), _HEX16),
                environment=_str(attrs.pop("sentry.environment", "")),
                release=_str(attrs.pop("sentry.release", "")),
                attributes=merge({k: _scalar(v) for k, v in attrs.items()}),
            )
        )
    return logs
