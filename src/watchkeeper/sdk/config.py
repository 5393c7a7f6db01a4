"""The SDK's options in one dataclass: keyword arguments > ``WATCHKEEPER_*`` environment > defaults.

>>> Config.load(service="api", environ={"WATCHKEEPER_SERVICE": "ignored"}).service
'api'
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict, Unpack

logger = logging.getLogger("watchkeeper")

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})


def _script_name() -> str:
    argv = getattr(sys, "argv", None) or [""]
    name = os.path.basename(argv[0])
    name = name.removesuffix(".py")
    # `python -c` leaves "-c" and the REPL leaves "": neither names a service.
    return name if name and not name.startswith("-") else "python"


class Options(TypedDict, total=False):
    """The keyword arguments ``init()`` and ``Client()`` take; see :class:`Config`."""

    endpoint: str
    key: str
    service: str
    environment: str
    release: str
    spool_dir: str
    spool_max_bytes: int
    queue_size: int
    batch_size: int
    flush_interval: float
    timeout: float
    max_retries: int
    retry_backoff: float
    gzip: bool
    enabled: bool
    metrics_interval: float
    redact: bool
    capture_errors: bool
    capture_locals: bool
    max_breadcrumbs: int
    capture_content: bool


@dataclass(frozen=True, slots=True)
class Config:
    """Every option of the SDK. Build with :meth:`load` to apply the environment."""

    endpoint: str = "http://127.0.0.1:7321"
    """The server's base URL; batches go to ``{endpoint}/api/v1/ingest``."""
    key: str = field(default="", repr=False)
    """The ingest key, sent as ``Authorization: Bearer <key>``; it decides the project."""
    service: str = field(default_factory=_script_name)
    """Fills ``service`` on every record; the script's name unless set."""
    environment: str = "production"
    release: str = ""
    spool_dir: str = ""
    """Where batches wait while the server is unreachable; "" picks a per-user cache directory
    per endpoint and key (see :attr:`spool_path`)."""
    spool_max_bytes: int = 100 * 1024 * 1024
    """Bound of the spool; the oldest batches are dropped past it. 0 turns the spool off."""
    queue_size: int = 100_000
    """Records held in memory before capture calls drop (and count) new ones."""
    batch_size: int = 5_000
    """Most records per request; a full batch is sent at once. Under load, larger batches spread
    the server's per-commit cost: 49k records/s end to end at 2,000, 60k at 5,000 (bench/)."""
    flush_interval: float = 1.0
    """Seconds a record waits at most before its (partial) batch is sent."""
    timeout: float = 10.0
    """Seconds to connect, and to wait for each answer."""
    max_retries: int = 3
    """Retries of a batch after a 429, a 5xx or a connection error, before it is spooled."""
    retry_backoff: float = 0.5
    """First retry waits up to this many seconds (full jitter); it doubles each retry."""
    gzip: bool = True
    enabled: bool = True
    """False makes every capture call a no-op: no thread, no file, no request."""
    metrics_interval: float = 15.0
    """Seconds between pushes of the Prometheus registry's samples to the server as metric
    records, from a background thread; 0 turns the push off (``/metrics`` still works)."""
    redact: bool = True
    """Replace secrets and personal data (passwords, tokens, API keys, emails, card numbers,
    JWTs) in log lines before they leave the process (see ``watchkeeper.sdk.redact``)."""
    capture_errors: bool = True
    """``init()`` chains ``sys.excepthook`` and ``threading.excepthook`` to report uncaught
    exceptions, and the log handler reports records logged with ``exc_info``."""
    capture_locals: bool = False
    """Errors carry the local variables of their innermost frames (``repr``'d, cut to 256
    characters, redacted when ``redact`` is on) as ``frame.<n>.vars`` attributes."""
    max_breadcrumbs: int = 100
    """Recent log lines and calls kept to show on errors (at most 200; 0 turns them off)."""
    capture_content: bool = False
    """LLM calls carry their prompts and completions (``gen_ai.input.messages``,
    ``gen_ai.output.messages``, ``gen_ai.system_instructions``), redacted and cut to 16 KiB
    each; ``instrument(client, capture_content=...)`` decides per client instead."""

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **options: Unpack[Options]) -> Config:
        """Resolve options: keyword arguments > ``WATCHKEEPER_<NAME>`` > defaults.

        A bad environment value is logged and ignored rather than raised: a typo in a deployment's
        environment must not stop the app. ``WATCHKEEPER_DISABLED=1`` turns the SDK off.

        >>> Config.load(environ={"WATCHKEEPER_BATCH_SIZE": "500"}).batch_size
        500
        """
        environ = os.environ if environ is None else environ
        unknown = set(options) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown watchkeeper option(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, kind in _FIELDS.items():
            raw = environ.get(f"WATCHKEEPER_{name.upper()}")
            if raw is not None:
                _parse_into(values, name, kind, raw)
        disabled = environ.get("WATCHKEEPER_DISABLED")
        if disabled is not None and "enabled" not in values:
            _parse_into(values, "enabled", bool, disabled)
            if "enabled" in values:
                values["enabled"] = not values["enabled"]
        values.update(options)
        return cls(**values)

    def replace(self, **options: Unpack[Options]) -> Config:
        """A copy with some options changed."""
        return dataclasses.replace(self, **options)

    @property
    def spool_path(self) -> str:
        """The spool directory: :attr:`spool_dir`, or one under the user's cache directory named
        by a hash of endpoint and key, so two apps sending to different servers or projects
        never replay each other's batches."""
        if self.spool_dir:
            return self.spool_dir
        # Imported when first needed, to keep `import watchkeeper` lean.
        import platformdirs  # noqa: PLC0415

        digest = hashlib.sha256(f"{self.endpoint}\0{self.key}".encode()).hexdigest()[:16]
        return os.path.join(platformdirs.user_cache_dir("watchkeeper"), "spool", digest)


# Annotations are strings under `from __future__ import annotations`; map them back to types.
_FIELDS: Final[dict[str, type]] = {
    f.name: {"str": str, "int": int, "float": float, "bool": bool}[str(f.type)]
    for f in dataclasses.fields(Config)
}


def _parse_into(values: dict[str, Any], name: str, kind: type, raw: str) -> None:
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError("expected 1/0, true/false, yes/no or on/off")
            values[name] = lowered in _TRUE
        elif kind is int:
            number = int(raw)
            if number < 0:
                raise ValueError("must not be negative")
            values[name] = number
        elif kind is float:
            real = float(raw)
            if not real >= 0:  # also refuses NaN
                raise ValueError("must not be negative")
            values[name] = real
        else:
            values[name] = raw
    except ValueError as exc:
        logger.warning("watchkeeper: ignoring WATCHKEEPER_%s=%r: %s", name.upper(), raw, exc)
