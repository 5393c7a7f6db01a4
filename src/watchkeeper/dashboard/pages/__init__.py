"""The dashboard's pages: every page is a route → catalog queries → template, the same way.

The pattern, which every page module (overview.py, issues.py, requests.py, traces.py, logs.py,
metrics.py) copies (and trace.py and issue.py, a trace's and an issue's own page):

1. :func:`~.view.resolve_view` (a dependency) resolves what all pages share once: the logged-in
   user, their projects and the chosen one (``?project=``), the time range (``?range=``) as
   ``since``/``until``/``bucket`` in ns, and the live refresh (``?refresh=``). A page with
   filters parses them in its own dependency and names itself with ``view.on(path, **filters)``,
   so every link it makes (range, refresh, paging, the live part, exports) keeps them.
2. A data function, ``<page>_data(store, view, ...)``, asks the catalog (``catalog.run``) and
   returns the template's context; it is the only place the page touches data. Tables are
   :class:`~.table.Table` s and charts come from :func:`~.chart.chart`.
3. ``GET <path>`` renders ``<page>.html`` with :func:`~.view.render_page`: it extends base.html
   (top bar, range picker, refresh toggle) and includes ``partials/<page>.html``.
4. ``GET /partials/<page>`` renders ``partials/<page>.html`` alone: the live part, wrapped in
   the ``live`` macro (partials/macros.html), which htmx swaps in while live refresh is on.
5. Either answers ``?format=csv|json&table=<name>`` with that table or chart as a download.
6. One line in :data:`~.view.NAV` puts the page in the top bar.

Charts travel as JSON in a ``data-chart`` attribute (the ``chart`` macro); app.js draws them
with uPlot after load and after every swap. Nothing inline: the pages keep a strict CSP.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages import (
    alert_rule,
    alerts,
    issue,
    issues,
    llm,
    logs,
    metrics,
    overview,
    requests,
    trace,
    traces,
)

router = APIRouter(dependencies=[Depends(login.csrf_protect)], include_in_schema=False)
router.include_router(login.router)
for page in (
    overview, issues, issue, requests, llm, traces, trace, logs, metrics, alerts, alert_rule,
):  # fmt: skip
    router.include_router(page.router)

__all__ = ["router"]
