"""Authentication for the Pipelines view: the same Airflow user as the rest of the UI.

A FastAPI app mounted by a plugin is not behind Airflow's authentication:
Airflow protects its own routers route by route.  So every route here
depends on :func:`current_user`, which hands the request to Airflow's own
``get_user`` (bearer token first, then the ``_token`` cookie the UI sets,
validated as a JWT by the configured auth manager), then asks the auth
manager whether that user may see the website at all.

Airflow's security module is imported on the first request, not at import
time: every Airflow process imports plugins, and only the api-server serves
this view.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

log = logging.getLogger(__name__)

bearer_scheme = HTTPBearer(auto_error=False, description="A JWT from POST /auth/token")


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Any:
    """The authenticated Airflow user; 401 without credentials, 403 for a bad token or no access."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import get_user

    user = await get_user(request, None, credentials)
    if not get_auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Forbidden")
    return user


def login_url(next_url: str) -> str:
    """Where to send a browser that has no session yet."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_url_login(next_url=next_url)


CurrentUser = Annotated[Any, Depends(current_user)]
