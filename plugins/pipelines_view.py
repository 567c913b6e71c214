"""Adds the "Pipelines" view to the Airflow 3 UI.

The page and its JSON API live in :mod:`pipeline_factory.ui` (an installed
package, importable from every Airflow process); this file only registers
them: the FastAPI app under ``/pipelines`` and a top-level nav entry that
shows it inside the Airflow UI.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from pipeline_factory.ui.app import URL_PREFIX, create_app


class PipelinesViewPlugin(AirflowPlugin):
    name = "pipelines_view"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Pipelines"}]
    external_views = [
        {
            "name": "Pipelines",
            "href": f"{URL_PREFIX}/",
            "url_route": "pipelines",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
