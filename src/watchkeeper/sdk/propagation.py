"""W3C trace-context: read ``traceparent``/``tracestate`` from a request, write them on one.

The format is the W3C Recommendation "Trace Context" (https://www.w3.org/TR/trace-context/):
``traceparent: 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>``, lowercase. Version
``ff`` and all-zero ids are invalid; a higher version than ours is read by its first four fields
(§3.2.4 "Versioning of traceparent"). ``tracestate`` is a list of at most 32 ``key=value``
vendor members that we pass on untouched; when it does not parse, it is dropped whole, and it is
never read without a valid ``traceparent`` (§3.3.1).

>>> traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
>>> context = extract(traceparent, "congo=t61rcWkgMzE")
>>> f"{context.trace_id:032x}", context.sampled, context.tracestate
('0af7651916cd43dd8448eb211c80319c', True, 'congo=t61rcWkgMzE')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Final, TypeAlias

from watchkeeper.sdk.context import BRIDGE, SpanIds, current_span, innermost

SAMPLED: Final = 0x01
RANDOM_TRACE_ID: Final = 0x02
"""Trace Context Level 2: the trace id's right 7 bytes are random (ours are: getrandbits)."""
_OWN_FLAGS: Final = SAMPLED | RANDOM_TRACE_ID

_HEX: Final = frozenset("0123456789abcdef")
_MAX_MEMBERS: Final = 32
# §3.3.1.3: key = simple-key / multi-tenant-key; value = 0*255(chr) nblk-chr.
_KEY: Final = re.compile(
    r"[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}"
)
_VALUE: Final = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A caller's position in its trace, as ``traceparent`` and ``tracestate`` carry it."""

    trace_id: int
    span_id: int
    """The caller's span: the parent of the span that continues the trace here."""
    flags: int = SAMPLED
    tracestate: str = ""
    """The vendors' list, normalised (members joined by ``,``), or ""."""

    @property
    def sampled(self) -> bool:
        """The caller's recording decision (flag bit 0), passed on downstream."""
        return bool(self.flags & SAMPLED)

    @property
    def traceparent(self) -> str:
        """This context as a version-00 ``traceparent`` value."""
        return format_traceparent(self.trace_id, self.span_id, self.flags)


remote_context: Final[ContextVar[TraceContext | None]] = ContextVar(
    "watchkeeper_remote", default=None
)
"""The incoming trace context of the request being handled (set by the server middlewares), so
the flags and tracestate of the caller go on with every outgoing call in the same trace."""


def _is_hex(text: str) -> bool:
    return bool(text) and _HEX.issuperset(text)


def parse_traceparent(value: str) -> tuple[int, int, int] | None:
    """``(trace_id, parent_id, flags)`` from a ``traceparent`` value, or None if invalid.

    >>> parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")[2]
    1
    >>> parse_traceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01") is None
    True
    """
    value = value.strip(" \t")  # OWS around a header value is not part of it (RFC 9110 §5.5)
    if len(value) < 55 or value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    version, trace_hex, parent_hex, flags_hex = value[:2], value[3:35], value[36:52], value[53:55]
    well_formed = (
        _is_hex(version)
        and version != "ff"
        # Version 00 is exactly 55 characters; a later one may append fields, each after a
        # dash (§3.2.4 "Versioning of traceparent").
        and (len(value) == 55 or (version != "00" and value[55] == "-"))
        and _is_hex(trace_hex)
        and _is_hex(parent_hex)
        and _is_hex(flags_hex)
    )
    if not well_formed:
        return None
    trace_id, parent_id = int(trace_hex, 16), int(parent_hex, 16)
    if trace_id == 0 or parent_id == 0:
        return None
    # We send version 00, which defines bits 0 and 1 (sampled, random) and says the others
    # must be sent as 0 (§3.2.2.5).
    return trace_id, parent_id, int(flags_hex, 16) & _OWN_FLAGS


def parse_tracestate(values: str | Iterable[str]) -> str | None:
    """The ``tracestate`` header (one value, or the values of repeated headers, which join with
    a comma) normalised, or None when it is invalid and must be dropped. Empty members are
    allowed and skipped; a repeated key, a bad key or value, or more than 32 members is invalid.

    >>> parse_tracestate(["rojo=00f067aa0ba902b7", " congo=t61rcWkgMzE,"])
    'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'
    """
    text = values if isinstance(values, str) else ",".join(values)
    members: list[str] = []
    keys: set[str] = set()
    for raw in text.split(","):
        member = raw.strip(" \t")
        if not member:
            continue
        key, equals, value = member.partition("=")
        if not equals or key in keys or not _KEY.fullmatch(key) or not _VALUE.fullmatch(value):
            return None
        keys.add(key)
        members.append(member)
    if len(members) > _MAX_MEMBERS:
        return None
    return ",".join(members)


def extract(
    traceparent: str | None, tracestate: str | Iterable[str] | None = None
) -> TraceContext | None:
    """The caller's :class:`TraceContext` from its headers' values, or None when there is no
    valid ``traceparent`` (then the request starts a new trace)."""
    if not traceparent:
        return None
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return None
    state = parse_tracestate(tracestate) if tracestate else ""
    return TraceContext(parsed[0], parsed[1], parsed[2], state or "")


def format_traceparent(trace_id: int, span_id: int, flags: int = _OWN_FLAGS) -> str:
    """A version-00 ``traceparent`` value.

    >>> format_traceparent(1, 2)
    '00-00000000000000000000000000000001-0000000000000002-03'
    """
    return f"00-{trace_id:032x}-{span_id:016x}-{flags & 0xFF:02x}"


def current_context() -> TraceContext | None:
    """The innermost open span (ours or OpenTelemetry's) as a :class:`TraceContext` to send
    on, with the flags and tracestate of the trace it belongs to; None outside every span."""
    otel_context = BRIDGE.get()
    ids = innermost(current_span.get(), otel_context)
    if ids is None:
        return None
    trace_id, span_id = ids
    if otel_context:
        found = BRIDGE.span_of(otel_context)
        if found is not None and found[0] == trace_id:
            return TraceContext(trace_id, span_id, found[2], found[3])
    remote = remote_context.get()
    if remote is not None and remote.trace_id == trace_id:
        return TraceContext(trace_id, span_id, remote.flags, remote.tracestate)
    return TraceContext(trace_id, span_id, _OWN_FLAGS)


def inject(headers: MutableMapping[str, str], context: TraceContext | None = None) -> None:
    """Set ``traceparent`` (and ``tracestate`` when there is one) on outgoing ``headers``
    from ``context``, by default the current span; outside every span, leave them alone.

    >>> headers: dict[str, str] = {}
    >>> inject(headers, TraceContext(1, 2, 1, "k=v"))
    >>> headers
    {'traceparent': '00-00000000000000000000000000000001-0000000000000002-01', 'tracestate': 'k=v'}
    """
    if context is None:
        context = current_context()
        if context is None:
            return
    headers["traceparent"] = context.traceparent
    if context.tracestate:
        headers["tracestate"] = context.tracestate


Continued: TypeAlias = tuple[Token[SpanIds | None], Token[TraceContext | None]]


def continue_trace(context: TraceContext) -> Continued:
    """Make a caller's span the parent of the spans opened next in this context (what a server
    middleware does before it opens the request's span); undo with :func:`leave_trace`."""
    return (
        current_span.set((context.trace_id, context.span_id, BRIDGE.get())),
        remote_context.set(context),
    )


def leave_trace(tokens: Continued) -> None:
    """Undo :func:`continue_trace`."""
    remote_context.reset(tokens[1])
    current_span.reset(tokens[0])
