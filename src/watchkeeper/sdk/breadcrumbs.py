"""Breadcrumbs: the recent log lines and calls an error report shows as "what happened before".

One bounded, process-wide :class:`collections.deque` (``append`` is atomic under the GIL, and
the oldest entry falls off by itself). An entry is the cheapest thing to build on the app's
thread, a tuple ``(ts_ns, category, message, args, level, data)``; a log line's ``msg % args``
is formatted only when an error is built, on the batcher's thread, and only for the crumbs that
error carries. Capturing an error copies the deque (a snapshot: ``tuple(deque)``).

The log handler adds every line it ships, the httpx and requests integrations every outgoing
call, and :func:`add_breadcrumb` is the door for anything else (LLM calls, navigation).

>>> add_breadcrumb("llm", "chat gpt-4o", {"gen_ai.usage.output_tokens": 42})
>>> snapshot()[-1][1:3]
('llm', 'chat gpt-4o')
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from time import time_ns
from typing import Any, Final, TypeAlias, cast

from watchkeeper.records import AttributeValue, Breadcrumb

Crumb: TypeAlias = tuple[int, str, object, Any, "int | str", "Mapping[str, object] | None"]
"""``(ts_ns, category, message, args, level, data)``: ``level`` a stdlib level number or one of
the contract's names; ``args`` the ``%`` arguments of a log line (or None)."""

MAX_BREADCRUMBS: Final = 200
"""The contract's bound on breadcrumbs per error."""
_MAX_TEXT: Final = 8_192
_LEVELS: Final = frozenset({"fatal", "error", "warning", "info", "debug"})


class _Trail:
    __slots__ = ("crumbs",)

    def __init__(self) -> None:
        self.crumbs: deque[Crumb] = deque(maxlen=100)


TRAIL: Final = _Trail()


def configure(max_breadcrumbs: int) -> None:
    """Keep the ``max_breadcrumbs`` most recent crumbs (0 turns breadcrumbs off; at most 200)."""
    size = max(0, min(MAX_BREADCRUMBS, max_breadcrumbs))
    if TRAIL.crumbs.maxlen != size:
        TRAIL.crumbs = deque(TRAIL.crumbs, maxlen=size)


def add_breadcrumb(
    category: str,
    message: str = "",
    data: Mapping[str, object] | None = None,
    *,
    level: str = "info",
) -> None:
    """Remember something that happened, to show on the next errors captured in this process
    (an LLM call, a cache miss, a navigation). ``data`` is copied (its top level)."""
    TRAIL.crumbs.append((time_ns(), category, message, None, level, dict(data) if data else None))


def log_crumb(created: float, name: str, msg: object, args: Any, levelno: int) -> None:
    """A log line as a crumb; called by the log handler for every line it ships."""
    TRAIL.crumbs.append((int(created * 1e9), name, msg, args, levelno, None))


def snapshot() -> tuple[Crumb, ...]:
    """The crumbs as they are now, oldest first."""
    return tuple(TRAIL.crumbs)


def clear() -> None:
    """Forget every crumb."""
    TRAIL.crumbs.clear()


def _level(level: int | str) -> str:
    if type(level) is int:
        if level >= 50:
            return "fatal"
        if level >= 40:
            return "error"
        if level >= 30:
            return "warning"
        return "info" if level >= 20 else "debug"
    text = str(level).lower()
    if text == "critical":
        return "fatal"
    return text if text in _LEVELS else "warning" if text == "warn" else "info"


def _text(msg: object, args: Any) -> str:
    try:
        text = msg if type(msg) is str else str(msg)
        if args:
            if type(args) is tuple and len(args) == 1 and isinstance(args[0], Mapping):
                args = args[0]
            try:
                text = text % args
            except Exception:
                text = f"{text} {args!r}"
    except Exception:
        text = "<unprintable>"
    return text[:_MAX_TEXT]


def to_records(crumbs: tuple[Crumb, ...]) -> list[Breadcrumb]:
    """Crumbs as the contract's breadcrumbs (run on the batcher's thread)."""
    from watchkeeper.sdk.client import flatten  # noqa: PLC0415 - client imports nothing of ours

    out: list[Breadcrumb] = []
    for ts, category, msg, args, level, data in crumbs[-MAX_BREADCRUMBS:]:
        attributes: dict[str, AttributeValue] = (
            flatten(cast(Mapping[object, object], data)) if data else {}
        )
        out.append(
            Breadcrumb(
                ts=ts,
                category=str(category)[:256],
                message=_text(msg, args),
                level=_level(level),  # type: ignore[arg-type]
                data=attributes,
            )
        )
    return out
