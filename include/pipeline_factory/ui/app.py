"""The FastAPI app behind the Pipelines view (mounted at ``/pipelines`` by the plugin).

``GET /`` is the page; ``GET /api/...`` are its JSON sections, fetched one
by one so that a slow or missing store (MLflow, say) only greys out its own
panel.  Every route needs an authenticated Airflow user.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials

from pipeline_factory.ui import overview, promotions
from pipeline_factory.ui.auth import bearer_scheme, current_user, login_url
from pipeline_factory.ui.page import PAGE

log = logging.getLogger(__name__)

URL_PREFIX = "/pipelines"


async def _section(name: str, build: Any) -> dict[str, Any]:
    # Store clients block; keep them off the api-server's event loop.
    return await asyncio.to_thread(overview.section, name, build)


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])

    @router.get("/overview")
    async def all_sections() -> dict[str, Any]:
        return await asyncio.to_thread(overview.overview)

    @router.get("/pipelines")
    async def pipelines() -> dict[str, Any]:
        return await _section("pipelines", overview.pipelines_overview)

    @router.get("/ledger")
    async def ledger() -> dict[str, Any]:
        return await _section("ledger", overview.ledger_overview)

    @router.get("/breakers")
    async def breakers() -> dict[str, Any]:
        return await _section("breakers", overview.breakers_overview)

    @router.get("/reports")
    async def reports() -> dict[str, Any]:
        return await _section("reports", overview.reports_overview)

    @router.get("/reports/file")
    async def report(path: str) -> FileResponse:
        try:
            return FileResponse(overview.report_file(path))
        except FileNotFoundError:
            raise HTTPException(status_code=404, detail="no such report") from None

    @router.get("/models")
    async def models() -> dict[str, Any]:
        return await _section("models", overview.models_overview)

    @router.get("/promotions")
    async def promotions_section() -> dict[str, Any]:
        return await _section("promotions", promotions.promotions_overview)

    @router.get("/promotions/plot")
    async def promotion_plot(pipeline: str, report: str, name: str) -> FileResponse:
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
            await current_user(request, credentials)
        except HTTPException as exc:
            if exc.status_code == 401:
                return RedirectResponse(login_url(str(request.url.path)), status_code=303)
            raise
        return HTMLResponse(PAGE)

    app.include_router(api_router())
    return app
