"""The FastAPI app behind the Pipelines view (mounted at ``/pipelines`` by the plugin).

``GET /`` is the page; ``GET /api/...`` are its JSON sections, fetched one
by one so that a slow or missing store (MLflow, say) only greys out its own
panel.

The boundaries hold for every route, including routes added later:

* authentication: the API router depends on :func:`~.auth.current_user`
  (401 anonymous, 403 bad token or no access to the Airflow UI);
* authorization: each route takes a :data:`~.access.ReadAccess` and shows
  only the pipelines whose DAGs the user may read (ledger jobs, reports,
  breakers and models of those pipelines only);
* read-only and no secrets: :class:`~.scrub.ScrubbingMiddleware` wraps the
  whole app, refuses every method but GET/HEAD and scrubs every body.
"""

from __future__ import annotations

import asyncio
import logging
from functools import cache
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials

from pipeline_factory.ui import graphrag_search, overview, promotions, runs
from pipeline_factory.ui.access import ReadAccess, read_access
from pipeline_factory.ui.auth import bearer_scheme, current_user, login_url
from pipeline_factory.ui.scrub import ScrubbingMiddleware

log = logging.getLogger(__name__)

URL_PREFIX = "/pipelines"


async def _section(name: str, build: Any) -> dict[str, Any]:
    # Store clients block; keep them off the api-server's event loop.
    return await asyncio.to_thread(overview.section, name, build)


@cache
def page_html() -> str:
    """The Pipelines page (``ui/templates/pipelines.html``, package data): one self-contained document.

    No CDN, no build step.  Its script fetches each ``api/<section>`` relative
    to the page, so the view works under any mount prefix, and builds the DOM
    with ``textContent`` only: values from specs and the ledger are never
    parsed as HTML.  ``body[data-ready]`` turns ``true`` once every section
    has answered (the browser test waits on it).
    """
    return (files("pipeline_factory.ui") / "templates" / "pipelines.html").read_text(encoding="utf-8")


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])

    @router.get("/overview")
    async def all_sections(access: ReadAccess) -> dict[str, Any]:
        return await asyncio.to_thread(overview.overview, access.pipelines, all_pipelines=access.all_pipelines)

    @router.get("/pipelines")
    async def pipelines(access: ReadAccess) -> dict[str, Any]:
        return await _section(
            "pipelines", lambda: overview.pipelines_overview(access.pipelines, all_problems=access.all_pipelines)
        )

    @router.get("/ledger")
    async def ledger(access: ReadAccess) -> dict[str, Any]:
        return await _section("ledger", lambda: overview.ledger_overview(allowed=access.pipelines))

    @router.get("/breakers")
    async def breakers(access: ReadAccess) -> dict[str, Any]:
        return await _section(
            "breakers",
            lambda: overview.breakers_overview(allowed=access.pipelines, all_pipelines=access.all_pipelines),
        )

    @router.get("/reports")
    async def reports(access: ReadAccess) -> dict[str, Any]:
        return await _section("reports", lambda: overview.reports_overview(allowed=access.pipelines))

    @router.get("/reports/file")
    async def report(path: str, access: ReadAccess) -> FileResponse:
        try:
            return FileResponse(overview.report_file(path, allowed=access.pipelines))
        except FileNotFoundError:
            raise HTTPException(status_code=404, detail="no such report") from None

    @router.get("/models")
    async def models(access: ReadAccess) -> dict[str, Any]:
        return await _section("models", lambda: overview.models_overview(allowed=access.pipelines))

    @router.get("/graphrag/search")
    async def graphrag_query(
        access: ReadAccess,
        q: Annotated[str, Query(min_length=1, max_length=graphrag_search.MAX_QUESTION)],
        k: Annotated[int, Query(ge=1, le=50)] = 10,
        mode: Annotated[str, Query(pattern="^(hybrid|vector)$")] = "hybrid",
    ) -> dict[str, Any]:
        # The graph and the collection belong to the GraphRAG pipelines: only a
        # user who may read one of them may query what they wrote.
        if not await asyncio.to_thread(graphrag_search.readable, access.pipelines):
            raise HTTPException(status_code=403, detail="Forbidden: no GraphRAG pipeline is readable")
        return await _section("graphrag", lambda: graphrag_search.search(q, k, mode))

    @router.get("/runs")
    async def runs_section(access: ReadAccess) -> dict[str, Any]:
        return await _section("runs", lambda: runs.runs_overview(allowed=access.pipelines))

    @router.get("/promotions")
    async def promotions_section(access: ReadAccess) -> dict[str, Any]:
        return await _section("promotions", lambda: promotions.promotions_overview(allowed=access.pipelines))

    @router.get("/promotions/plot")
    async def promotion_plot(access: ReadAccess, pipeline: str, report: str, name: str) -> FileResponse:
        if not access.allows(pipeline):  # the same answer as a missing plot: nothing to learn by probing
            raise HTTPException(status_code=404, detail="no such plot")
        try:
            return FileResponse(promotions.plot_file(pipeline, report, name), media_type="image/png")
        except (FileNotFoundError, ValueError):
            raise HTTPException(status_code=404, detail="no such plot") from None

    return router


def create_app() -> FastAPI:
    app = FastAPI(title="Pipelines", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse, response_model=None)
    async def page(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
    ) -> HTMLResponse | RedirectResponse:
        try:
            user = await current_user(request, credentials)
        except HTTPException as exc:
            if exc.status_code == 401:
                return RedirectResponse(login_url(str(request.url.path)), status_code=303)
            raise
        await read_access(user)  # 403 for a user who may read no pipeline
        return HTMLResponse(page_html())

    app.include_router(api_router())
    app.add_middleware(ScrubbingMiddleware)
    return app
