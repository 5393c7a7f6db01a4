"""The channels alerts are delivered to: webhook, Slack, email, Alertmanager.

:func:`build` turns a channel as written in the rules file into a :class:`Notifier`
(alerts/model.py), checking its options; the policy calls ``send`` and retries a
:class:`DeliveryError`. String options may name environment variables as ``${NAME}``, so rules
files kept in git hold no secrets::

    channels:
      - name: team-slack
        type: slack
        url: ${SLACK_WEBHOOK_URL}

docs/alerts.md ("Channels") lists every type's options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from watchkeeper.alerts.model import Notifier
from watchkeeper.alerts.notifiers import alertmanager, email, slack, webhook
from watchkeeper.alerts.notifiers.options import Options

_BUILDERS: Final[dict[str, Callable[[str, Options], Notifier]]] = {
    "alertmanager": alertmanager.from_options,
    "email": email.from_options,
    "slack": slack.from_options,
    "webhook": webhook.from_options,
}

TYPES: Final = tuple(sorted(_BUILDERS))
"""The channel types a rules file may name."""


def build(
    name: str, type: str, options: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
) -> Notifier:
    """The notifier for one channel of the rules file; a bad option raises ``ValueError`` whose
    message starts with the field's name. ``environ`` (default ``os.environ``) fills ``${NAME}``.

    >>> build("ops", "webhook", {"url": "https://example.test/hook"}).type
    'webhook'
    >>> build("ops", "webhook", {"url": "example.test"})
    Traceback (most recent call last):
    ValueError: url: must be an http(s) URL, not 'example.test'
    """
    builder = _BUILDERS.get(type)
    if builder is None:
        raise ValueError(f"type: unknown channel type {type!r} (one of: {', '.join(TYPES)})")
    opts = Options(options, environ)
    notifier = builder(name, opts)
    opts.done()
    return notifier


__all__ = ["TYPES", "build"]
