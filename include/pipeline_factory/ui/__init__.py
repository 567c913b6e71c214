"""The "Pipelines" view of the Airflow UI: specs, the job ledger, breakers, reports, models.

``plugins/pipelines_view.py`` mounts :func:`pipeline_factory.ui.app.create_app`
into Airflow's api-server; everything the view reads is collected by
:mod:`pipeline_factory.ui.overview`, one section at a time, so that one
missing store never blanks the page.
"""
