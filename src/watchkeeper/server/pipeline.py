"""The ingest pipeline: what happens to a batch between decoding and the writer.

Two steps. LLM calls: a span that is one gets the OpenTelemetry GenAI names for what other
instrumentations call otherwise (llm/usage.py) and its cost with the cost's source
(llm/prices.py), so the writer fills the gen_ai_* columns alike whatever sent it. Errors: they
are grouped into issues (errors/grouping.py), their issues created or updated in the metadata
store in one transaction per batch (with regression detection, errors/issues.py), and each
error's ``issue_id`` set before it is stored. Every ingest endpoint ends with :func:`commit`, so
native, OTLP and Sentry records are treated alike, and nothing is acknowledged before the writer
has committed it.

>>> pipeline = Pipeline(meta)  # doctest: +SKIP
>>> pipeline.process(project_id, records)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from starlette.concurrency import run_in_threadpool

from watchkeeper.errors.grouping import group
from watchkeeper.errors.issues import Occurrence, SeverityRule, severity
from watchkeeper.llm.prices import PriceBook
from watchkeeper.llm.usage import normalise
from watchkeeper.meta.store import MetaStore
from watchkeeper.records import Error, Record, Span
from watchkeeper.server.ingest.body import IngestError
from watchkeeper.server.writer import Writer, WriterBusyError, WriterStoppedError

log = logging.getLogger(__name__)

SEEN_IDS: Final = 100_000
"""Error ids remembered to keep a replayed batch (a client retrying after a lost answer) from
counting its errors twice in ``times_seen``; the store itself drops the duplicate rows."""


class Pipeline:
    """Normalises and prices the LLM calls of each batch and groups its errors into issues.
    Safe to call from several threads."""

    def __init__(
        self,
        meta: MetaStore,
        severity_rules: Sequence[SeverityRule] = (),
        prices: PriceBook | None = None,
    ) -> None:
        self.meta = meta
        self.severity_rules = tuple(severity_rules)
        self.prices = prices
        """Prices of LLM calls; None leaves calls without a cost (tests that need none)."""
        self._seen: OrderedDict[tuple[int, str], int] = OrderedDict()
        self._lock = threading.Lock()

    def process(self, project: int, records: Sequence[Record]) -> None:
        """Normalise and price the LLM calls of ``records``; set ``issue_id`` on every error,
        recording them in their issues."""
        self.price_calls(records)
        errors = [record for record in records if isinstance(record, Error)]
        if not errors:
            return
        fresh: list[Occurrence] = []
        fingerprints: list[str] = []
        replayed: dict[int, int] = {}
        with self._lock:
            for index, error in enumerate(errors):
                known = self._seen.get((project, error.id))
                if known is not None:
                    replayed[index] = known
        for index, error in enumerate(errors):
            grouping = group(error)
            fingerprints.append(grouping.hash)
            if index in replayed:
                continue
            fresh.append(
                Occurrence(
                    fingerprint=grouping.hash,
                    grouping_key=grouping.key,
                    title=grouping.title,
                    type=error.type,
                    culprit=grouping.culprit,
                    level=error.level,
                    severity=severity(error, self.severity_rules),
                    ts=error.ts,
                    release=error.release,
                )
            )
        ids = self.meta.record_occurrences(project, fresh)
        with self._lock:
            for index, error in enumerate(errors):
                issue_id = replayed.get(index) or ids[fingerprints[index]]
                error.issue_id = issue_id
                self._seen[(project, error.id)] = issue_id
                self._seen.move_to_end((project, error.id))
            while len(self._seen) > SEEN_IDS:
                self._seen.popitem(last=False)

    def price_calls(self, records: Sequence[Record]) -> None:
        """Give each span that is an LLM call its canonical GenAI attributes, an error kind when
        it failed, the provider of its model when it names none, and ``gen_ai.usage.cost``
        (when known) with ``watchkeeper.cost_source``. A call that cannot be priced is stored
        unpriced rather than refused."""
        for record in records:
            if type(record) is Span:
                try:
                    self._price_call(record)
                except Exception:
                    # Monitoring data is never refused for our own bug: stored as it came.
                    log.exception("the LLM step failed on span %s; stored as sent", record.id)

    def _price_call(self, span: Span) -> None:
        attributes = span.attributes
        if not normalise(attributes):
            return
        if span.status == "error" and "error.type" not in attributes:
            attributes["error.type"] = "other"
        if self.prices is None:
            return
        if "gen_ai.provider.name" not in attributes:
            # The provider is what the LLM page groups by; genai-prices knows it from the model.
            model = attributes.get("gen_ai.response.model")
            guessed = self.prices.provider_for(model or attributes.get("gen_ai.request.model"))
            if guessed is not None:
                attributes["gen_ai.provider.name"] = guessed
        usd, source = self.prices.cost(attributes, span.ts)
        attributes["watchkeeper.cost_source"] = source
        if usd is None:
            attributes.pop("gen_ai.usage.cost", None)
        else:
            attributes["gen_ai.usage.cost"] = usd


async def commit(
    writer: Writer, pipeline: Pipeline | None, project: int, records: Sequence[Record]
) -> int:
    """Run ``pipeline`` on ``records`` (grouping errors into issues; None in tests that need no
    grouping),
    hand them to the writer and wait for their commit; return how many there were.

    A full or stopped writer, or a failed pipeline step or commit, raises a 503 with
    ``Retry-After``: nothing of the batch is acknowledged, so the client keeps it and sends it
    again.
    """
    if pipeline is not None:
        try:
            await run_in_threadpool(pipeline.process, project, records)
        except Exception:
            raise IngestError(
                503, "the batch's errors could not be grouped; retry", {"Retry-After": "5"}
            ) from None
    try:
        future = writer.submit(project, records)
    except WriterBusyError as exc:
        raise IngestError(503, str(exc), {"Retry-After": f"{exc.retry_after:.0f}"}) from None
    except WriterStoppedError as exc:
        raise IngestError(503, str(exc), {"Retry-After": "5"}) from None
    try:
        return await asyncio.wrap_future(future)
    except Exception:
        raise IngestError(
            503, "the store could not commit the batch; retry", {"Retry-After": "5"}
        ) from None
