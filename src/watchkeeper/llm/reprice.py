"""Recompute the cost of stored LLM calls after prices changed (a rule added to the prices file,
a genai-prices upgrade): R-LLM4's "recompute history when prices change".

Calls whose cost was ``reported`` by their instrumentation are left as they are; the others
(``computed`` or ``unpriced`` at ingest) are priced again at their own time, in chunks, and
those whose cost changed get new ``gen_ai_cost_usd``/``gen_ai_cost_source`` columns and
attributes. One reprice runs at a time in a process.

>>> result = reprice(store, PriceBook(settings.prices_file), since=week_ago)  # doctest: +SKIP
>>> result.updated, result.models_unpriced  # doctest: +SKIP
(120, [('openai', 'my-finetune')])
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Final

from watchkeeper.llm.prices import PriceBook
from watchkeeper.store.base import CostUpdate, Store

CHUNK: Final = 5_000
"""Calls read and updated per transaction: big enough to be quick, small enough that the
writer's commits are never held up long."""

_ONE_AT_A_TIME: Final = threading.Lock()


@dataclass
class RepriceResult:
    """What :func:`reprice` did."""

    updated: int = 0
    """Calls whose cost or cost source changed."""
    unpriced: int = 0
    """Calls still without a price."""
    models_unpriced: list[tuple[str, str]] = field(default_factory=list)
    """(provider, model) of those calls, sorted."""
    checked: int = 0
    """Calls looked at (every call in the range whose cost was not reported)."""


def reprice(
    store: Store,
    prices: PriceBook,
    *,
    project: int | None = None,
    since: int | None = None,
    until: int | None = None,
) -> RepriceResult:
    """Price again the stored calls of ``project`` (all when None) between ``since`` and
    ``until`` (ns, either open) whose cost was not reported, with ``prices`` as they are now.

    >>> reprice(store, prices, project=1).updated  # doctest: +SKIP
    42
    """
    result = RepriceResult()
    unpriced: set[tuple[str, str]] = set()
    prices.reload()
    with _ONE_AT_A_TIME:
        after: tuple[int, int, str] | None = None
        while True:
            rows = store.repriceable_spans(
                project=project, since=since, until=until, after=after, limit=CHUNK
            )
            if not rows:
                break
            updates: list[CostUpdate] = []
            for row in rows:
                attributes = row["attributes"]
                usd, source = prices.cost(attributes, row["ts"])
                if source == "unpriced":
                    model = attributes.get("gen_ai.request.model") or attributes.get(
                        "gen_ai.response.model", ""
                    )
                    unpriced.add((str(attributes.get("gen_ai.provider.name", "")), str(model)))
                    result.unpriced += 1
                if (usd, source) != (row["gen_ai_cost_usd"], row["gen_ai_cost_source"]):
                    updates.append(CostUpdate(row["project"], row["id"], row["ts"], usd, source))
            if updates:
                result.updated += store.set_span_costs(updates)
            result.checked += len(rows)
            last = rows[-1]
            after = (last["ts"], last["project"], last["id"])
    result.models_unpriced = sorted(unpriced)
    return result
