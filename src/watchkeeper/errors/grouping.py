"""Grouping: the fingerprint that decides which issue an error belongs to, with its title and
culprit. docs/errors.md describes the algorithm; :data:`GROUPING_VERSION` names it.

The default fingerprint is the exception type plus the in-app frames' ``module`` and
``function`` (all frames when none is in-app), innermost last. Line numbers and source lines are
left out, unlike Sentry (reference/errors-logging-tracing.md §2.1), so editing the failing file
does not split an issue. Without frames the type and the normalised message stand in. A custom
``fingerprint`` replaces the default; its ``{{ default }}`` part expands to it.

>>> from watchkeeper.records import Error, Frame
>>> error = Error(id="e1", ts=1, type="KeyError", message="'user 42'",
...               frames=[Frame(module="app.views", function="show", lineno=10, in_app=True)])
>>> group(error).key
'v1|KeyError|app.views:show'
>>> group(error).title, group(error).culprit
("KeyError: 'user 42'", 'app.views in show')
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from watchkeeper.records import Error, Frame

GROUPING_VERSION: Final = 1
"""Part of every fingerprint hash: a changed algorithm makes new issues rather than merging old
and new keys silently. Bump it, and say what changed in docs/errors.md, when the key changes."""

DEFAULT_PART: Final = "{{ default }}"
TITLE_LENGTH: Final = 120

# Sentry's message parameterisation, in its order (most specific first), as Bugsink vendors it
# (sentry grouping/strategies/message.py): an email must go before its host, a uuid before hex.
_PATTERNS: Final = (
    ("email", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    ("url", r"\b[a-z][a-z0-9+.-]*://[^\s'\"]+"),
    ("ip", r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b"),
    ("uuid", r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b"),
    ("sha1", r"\b[0-9a-f]{40}\b"),
    ("md5", r"\b[0-9a-f]{32}\b"),
    (
        "date",
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
        r"|\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b",
    ),
    ("duration", r"\b\d+(?:\.\d+)?(?:ms|s|m|h|d)\b"),
    ("hex", r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b"),
    ("float", r"(?<![\w.])-?\d+\.\d+\b"),
    ("int", r"(?<![\w.])-?\d+\b"),
    ("quoted_str", r"'[^']*'|\"[^\"]*\""),
    ("bool", r"\b(?:true|false)\b"),
)
_NORMALISE: Final = re.compile(
    "|".join(f"(?P<{name}>{pattern})" for name, pattern in _PATTERNS), re.IGNORECASE
)


@dataclass(frozen=True)
class Grouping:
    """What grouping decided for one error: the readable ``key``, its ``hash`` (the issue's
    identity within a project), a ``title`` and a ``culprit`` for lists."""

    key: str
    hash: str
    title: str
    culprit: str


def normalise_message(message: str) -> str:
    """The message's first two non-empty lines with variable parts replaced by placeholders.

    >>> normalise_message("User 12345 not found at 2024-01-02T03:04:05Z")
    'User <int> not found at <date>'
    """
    lines = [line.strip() for line in message.splitlines() if line.strip()][:2]
    text = "\n".join(lines)
    return _NORMALISE.sub(lambda m: f"<{m.lastgroup}>", text)


def app_frames(frames: Sequence[Frame]) -> list[Frame]:
    """The in-app frames, or every frame when none is in-app (a library-only stack)."""
    in_app = [frame for frame in frames if frame.in_app]
    return in_app or list(frames)


def _frame_key(frame: Frame) -> str:
    # A module-less frame (a script run as __main__ by path) falls back to its file's base
    # name, never its directory, so the same app deployed elsewhere groups the same.
    module = frame.module or frame.filename.replace("\\", "/").rsplit("/", 1)[-1]
    return f"{module}:{frame.function}"


def default_key(error: Error) -> str:
    """The default grouping key (without the version prefix)."""
    frames = app_frames(error.frames)
    if frames:
        return "|".join((error.type, *(_frame_key(frame) for frame in frames)))
    return f"{error.type}|{normalise_message(error.message)}"


def title(error: Error) -> str:
    """``Type: first line of the message``, cut to :data:`TITLE_LENGTH` characters."""
    first = next((line.strip() for line in error.message.splitlines() if line.strip()), "")
    text = f"{error.type}: {first}" if first else error.type
    return text if len(text) <= TITLE_LENGTH else text[: TITLE_LENGTH - 1] + "…"


def culprit(error: Error) -> str:
    """Where it broke: the innermost in-app frame as ``module in function`` ('' without frames)."""
    frames = app_frames(error.frames)
    if not frames:
        return ""
    frame = frames[-1]
    module = frame.module or frame.filename
    return f"{module} in {frame.function}" if frame.function else module


def group(error: Error) -> Grouping:
    """Group ``error``: its key, hash, title and culprit."""
    default = default_key(error)
    if error.fingerprint:
        key = "|".join(default if part == DEFAULT_PART else part for part in error.fingerprint)
    else:
        key = default
    key = f"v{GROUPING_VERSION}|{key}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return Grouping(key=key, hash=digest, title=title(error), culprit=culprit(error))
