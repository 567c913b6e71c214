"""The spec's alert rules as a Prometheus rules file, and the Alertmanager config that routes them.

Prometheus evaluates the rules over the pushed metrics
(:mod:`.metrics`); Alertmanager groups, deduplicates, sends and resolves.
Nothing here evaluates anything: it only writes the two files, from the
validated specs, so ``promtool check rules`` and ``amtool check-config``
(or the servers themselves) are the judges.

Routing: every alert carries a ``pipeline`` label; the Alertmanager route for
that pipeline sends to its ``notifications.on_failure`` notifiers (or, when it
has none that can, to ``PIPELINE_ALERT_TO``): an
``smtp`` notifier becomes an email receiver on the notifier's SMTP
connection, a ``webhook`` notifier a webhook receiver on its connection's URL
(``log`` notifiers have no Alertmanager counterpart).  ``send_resolved`` is on,
so a cleared condition sends a resolved notice.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline_factory.observability.metrics import DEFAULT_FAILURE_WINDOW
from pipeline_factory.spec.alerts import (
    BreakerOpenRule,
    FailureRateRule,
    GateWaitingRule,
    NoSuccessRule,
    RunDurationRule,
    prom_duration,
)

log = logging.getLogger(__name__)

#: The alert names rules get unless they name themselves (CamelCase, as Prometheus's own mixins write them).
DEFAULT_NAMES = {
    "failure_rate": "PipelineFailureRateHigh",
    "run_duration": "PipelineRunTooLong",
    "breaker_open": "PipelineBreakerOpenTooLong",
    "gate_waiting": "PipelineGateWaitingTooLong",
    "no_success": "PipelineNoRecentSuccess",
}
DEFAULT_RECEIVER = "default"
ALERT_TO_ENV = "PIPELINE_ALERT_TO"


def _q(value: str) -> str:
    """A PromQL label value (a JSON string is a valid PromQL string)."""
    return json.dumps(value)


def _selector(pipeline: str, **labels: str | None) -> str:
    parts = [f"pipeline={_q(pipeline)}"] + [f"{k}={_q(v)}" for k, v in labels.items() if v is not None]
    return "{" + ",".join(parts) + "}"


def rule_expression(pipeline: str, rule: Any) -> tuple[str, str]:
    """``(PromQL, summary)`` of one rule."""
    if isinstance(rule, FailureRateRule):
        sel = _selector(pipeline, window=str(rule.runs))
        return (f"pipeline_run_failure_ratio{sel} > {rule.above:g}",
                f"{pipeline}: more than {rule.above:.0%} of the last {rule.runs} runs failed")
    if isinstance(rule, RunDurationRule):
        return (f"pipeline_run_duration_seconds{_selector(pipeline)} > {rule.above.total_seconds():g}",
                f"{pipeline}: the last run took longer than {rule.above}")
    if isinstance(rule, BreakerOpenRule):
        sel = _selector(pipeline, breaker=rule.breaker)
        return (f"time() - (pipeline_breaker_open_since_timestamp_seconds{sel} > 0) > "
                f"{rule.longer_than.total_seconds():g}",
                f"{pipeline}: circuit breaker {{{{ $labels.breaker }}}} open longer than {rule.longer_than}")
    if isinstance(rule, GateWaitingRule):
        sel = _selector(pipeline, stage=rule.stage)
        return (f"time() - (pipeline_gate_waiting_since_timestamp_seconds{sel} > 0) > "
                f"{rule.longer_than.total_seconds():g}",
                f"{pipeline}: gate {{{{ $labels.stage }}}} waiting longer than {rule.longer_than}")
    if isinstance(rule, NoSuccessRule):
        return (f"time() - pipeline_run_last_success_timestamp_seconds{_selector(pipeline)} > "
                f"{rule.within.total_seconds():g}",
                f"{pipeline}: no successful run within {rule.within}")
    raise TypeError(f"unknown alert rule {rule!r}")


def rules_file(specs: Mapping[str, Any], *, interval: str | None = None) -> dict[str, Any]:
    """The Prometheus rules file: one group per pipeline that declares alerts (``specs``: name -> PipelineSpec)."""
    groups = []
    for name, spec in sorted(specs.items()):
        rules = []
        for index, rule in enumerate(spec.alerts):
            expr, summary = rule_expression(name, rule)
            entry: dict[str, Any] = {
                "alert": rule.name or DEFAULT_NAMES[rule.kind],
                "expr": expr,
                "labels": {"severity": rule.severity, "pipeline": name, "rule": f"{name}.{index}.{rule.kind}"},
                "annotations": {
                    "summary": rule.summary or summary,
                    "description": f"Alert rule {index} ({rule.kind}) of pipeline {name}; value {{{{ $value }}}}.",
                },
            }
            if rule.for_ is not None:
                entry["for"] = prom_duration(rule.for_)
            rules.append(entry)
        if rules:
            group: dict[str, Any] = {"name": f"pipeline_{name}", "rules": rules}
            if interval:
                group["interval"] = interval
            groups.append(group)
    return {"groups": groups}


def failure_windows(spec: Any) -> set[int]:
    """The failure-rate windows a pipeline's metrics must carry: its rules' and the default."""
    return {DEFAULT_FAILURE_WINDOW} | {r.runs for r in spec.alerts if isinstance(r, FailureRateRule)}


# -- Alertmanager ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpServer:
    smarthost: str
    sender: str
    require_tls: bool = False
    username: str | None = None
    password: str | None = None


def smtp_from_connection(conn_id: str) -> SmtpServer:
    """The SMTP server of an Airflow connection (``AIRFLOW_CONN_*``, a secrets backend or the database)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson or {}
    tls = str(extra.get("disable_tls", False)).lower() not in ("true", "1")  # as the SMTP provider reads it
    return SmtpServer(
        smarthost=f"{conn.host or '127.0.0.1'}:{conn.port or 25}",
        sender=str(extra.get("from_email") or os.environ.get("PIPELINE_NOTIFY_FROM") or "pipelines@localhost"),
        require_tls=tls,
        username=conn.login or None,
        password=conn.password or None,
    )


def webhook_from_connection(conn_id: str) -> str:
    from pipeline_factory.notify import _webhook_url

    return _webhook_url(conn_id)


def _receiver(name: str, notifiers: Iterable[Any], smtp: Callable[[str], SmtpServer],
              webhook: Callable[[str], str]) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": name}
    for notifier in notifiers:
        try:
            _add_notifier(receiver, notifier, smtp, webhook)
        except Exception as exc:  # one unusable notifier must not take every pipeline's alerting down
            log.warning("alerts for %s: notifier %s left out: %s", name, notifier.type, exc)
    return receiver


def _add_notifier(receiver: dict[str, Any], notifier: Any, smtp: Callable[[str], SmtpServer],
                  webhook: Callable[[str], str]) -> None:
    """An ``smtp`` notifier as an email config, a ``webhook`` one as a webhook config (``log``: nothing)."""
    if notifier.type == "smtp":
        server = smtp(notifier.conn_id)
        config: dict[str, Any] = {
            "to": ", ".join([*notifier.recipients(), *notifier.cc]),
            "from": notifier.from_email or server.sender,
            "smarthost": server.smarthost,
            "require_tls": server.require_tls,
            "send_resolved": True,
        }
        if server.username:
            config["auth_username"] = server.username
            config["auth_password"] = server.password or ""
        receiver.setdefault("email_configs", []).append(config)
    elif notifier.type == "webhook":
        receiver.setdefault("webhook_configs", []).append({"url": webhook(notifier.conn_id), "send_resolved": True})


def fallback_notifiers() -> list[Any]:
    """Where alerts of a pipeline without mail or webhook notifiers go: ``PIPELINE_ALERT_TO`` (comma-separated)."""
    from pipeline_factory.notify import SmtpNotifierSpec

    to = [a.strip() for a in os.environ.get(ALERT_TO_ENV, "").split(",") if a.strip()]
    return [SmtpNotifierSpec(type="smtp", to=to)] if to else []


def alertmanager_config(
    specs: Mapping[str, Any],
    *,
    group_wait: str = "30s",
    group_interval: str = "5m",
    repeat_interval: str = "4h",
    smtp: Callable[[str], SmtpServer] = smtp_from_connection,
    webhook: Callable[[str], str] = webhook_from_connection,
) -> dict[str, Any]:
    """Alertmanager's config: one route and receiver per pipeline with alerts, grouped by alert and pipeline."""
    routes, receivers = [], [{"name": DEFAULT_RECEIVER}]
    for name, spec in sorted(specs.items()):
        if not spec.alerts:
            continue
        receiver = f"pipeline_{name}"
        notifiers = [n for n in spec.notifications.on_failure if n.type in ("smtp", "webhook")] or fallback_notifiers()
        receivers.append(_receiver(receiver, notifiers, smtp, webhook))
        routes.append({"receiver": receiver, "matchers": [f"pipeline={_q(name)}"]})
    return {
        "route": {
            "receiver": DEFAULT_RECEIVER,
            "group_by": ["alertname", "pipeline"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
            "routes": routes,
        },
        "receivers": receivers,
    }
