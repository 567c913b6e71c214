"""What operators see of a run outside its logs: notes, metrics and alert rules.

- :mod:`.notes`: the reason a task skipped, waited, was refused or decided,
  written as the task instance's and the DAG run's note in the Airflow UI.
- :mod:`.metrics`: the project's figures as Prometheus metrics, pushed to a
  Pushgateway when a stage ends.
- :mod:`.alerts`: the alert rules a spec declares, rendered for Prometheus and
  Alertmanager.
"""
