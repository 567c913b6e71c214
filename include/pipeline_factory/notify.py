"""Notifications: DAG-level callbacks from a spec's ``notifications:`` and the ``notify`` stage's summary.

A spec names notifier *types*, never Python callables::

    notifications:
      on_failure: [{type: smtp, to: [ops@example.org]}]
      on_success: [{type: webhook, conn_id: chat_webhook}]

``smtp`` sends through Airflow's smtp provider (connection ``smtp_default``
unless ``conn_id`` says otherwise); ``webhook`` POSTs JSON to the URL held by
an Airflow connection (secrets stay out of YAML); ``log`` writes to the task
or processor log.  This module is imported when DAGs are parsed, so the
providers and httpx are imported only when a notification is sent.
"""

from __future__ import annotations

import html
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

log = logging.getLogger(__name__)

DEFAULT_FROM = "pipelines@localhost"


class _Notifier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpNotifierSpec(_Notifier):
    type: Literal["smtp"]
    to: list[str] = Field(default_factory=list, description="Default: PIPELINE_NOTIFY_TO (comma-separated).")
    cc: list[str] = Field(default_factory=list)
    subject: str | None = None
    conn_id: str = "smtp_default"
    from_email: str | None = Field(None, description="Default: the connection's from_email, PIPELINE_NOTIFY_FROM.")

    def recipients(self) -> list[str]:
        to = list(self.to) or [a.strip() for a in os.environ.get("PIPELINE_NOTIFY_TO", "").split(",") if a.strip()]
        if not to:
            raise ValueError("smtp notifier has no recipients: set 'to' or PIPELINE_NOTIFY_TO")
        return to


class WebhookNotifierSpec(_Notifier):
    type: Literal["webhook"]
    conn_id: str = Field(..., description="Airflow connection whose host (and schema) form the URL.")
    timeout_seconds: float = Field(10.0, gt=0)


class LogNotifierSpec(_Notifier):
    type: Literal["log"]
    level: Literal["info", "warning", "error"] = "info"


NotifierSpec = Annotated[
    SmtpNotifierSpec | WebhookNotifierSpec | LogNotifierSpec, Field(discriminator="type")
]
_adapter: TypeAdapter[list[NotifierSpec]] = TypeAdapter(list[NotifierSpec])


def parse_notifiers(specs: Sequence[Mapping[str, Any]]) -> list[NotifierSpec]:
    """Validate notifier specs; unknown types and keys fail naming the entry."""
    return _adapter.validate_python([dict(s) for s in specs])


# --- sending -----------------------------------------------------------------------------------


def mime_message(
    subject: str, from_email: str, to: Sequence[str], cc: Sequence[str], text: str, html_body: str | None,
    images: Mapping[str, bytes] | None = None,
) -> Any:
    """A mail a client can show: a plain-text part and an HTML part whose ``cid:`` images travel inline.

    ``multipart/alternative`` (text, then ``multipart/related`` HTML + PNGs):
    a client without HTML shows the text, one with HTML shows the pictures in place.
    """
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = from_email
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=from_email.rsplit("@", 1)[-1] or "localhost")
    message.set_content(text)
    message.add_alternative(html_body or f"<pre>{html.escape(text)}</pre>", subtype="html")
    if images:
        parts: Any = message.get_payload()  # [text, html] after add_alternative
        html_part = parts[-1]
        for cid, data in images.items():
            html_part.add_related(data, maintype="image", subtype="png", cid=f"<{cid}>", filename=f"{cid}.png",
                                  disposition="inline")
    return message


def _send_smtp(spec: SmtpNotifierSpec, subject: str, text: str, html_body: str | None,
               images: Mapping[str, bytes] | None = None) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=spec.conn_id) as hook:
        from_email = spec.from_email or hook.from_email or os.environ.get("PIPELINE_NOTIFY_FROM", DEFAULT_FROM)
        to = spec.recipients()
        message = mime_message(spec.subject or subject, from_email, to, spec.cc, text, html_body, images)
        client: Any = hook._smtp_client  # opened by the hook's __enter__ (TLS, login) from the connection
        for attempt in range(hook.smtp_retry_limit + 1):
            try:
                client.send_message(message, from_addr=from_email, to_addrs=[*to, *spec.cc])
                break
            except Exception:
                if attempt == hook.smtp_retry_limit:
                    raise


def _webhook_url(conn_id: str) -> str:
    from pipeline_factory.hooks.webhook import WebhookHook

    return WebhookHook(webhook_conn_id=conn_id).get_url()


def _send_webhook(spec: WebhookNotifierSpec, subject: str, text: str, payload: Mapping[str, Any]) -> None:
    import httpx

    response = httpx.post(
        _webhook_url(spec.conn_id),
        json={"subject": subject, "text": text, **payload},
        timeout=spec.timeout_seconds,
    )
    response.raise_for_status()


def send(
    specs: Sequence[Mapping[str, Any] | NotifierSpec],
    subject: str,
    text: str,
    *,
    html_body: str | None = None,
    payload: Mapping[str, Any] | None = None,
    images: Mapping[str, bytes] | None = None,
) -> list[str]:
    """Send one message through every notifier; returns the types that succeeded.

    Every notifier is tried even when one fails, then the first failure is
    raised: a broken webhook must not swallow the mail.  ``images`` (content
    id -> PNG bytes) go inline into the mail, referenced as ``cid:<id>``.
    """
    parsed = [s if isinstance(s, BaseModel) else parse_notifiers([s])[0] for s in specs]
    sent: list[str] = []
    errors: list[Exception] = []
    for spec in parsed:
        try:
            if isinstance(spec, SmtpNotifierSpec):
                _send_smtp(spec, subject, text, html_body, images)
            elif isinstance(spec, WebhookNotifierSpec):
                _send_webhook(spec, subject, text, payload or {})
            else:
                getattr(log, spec.level)("%s\n%s", subject, text)
            sent.append(spec.type)
        except Exception as exc:
            log.exception("notifier %s failed", spec.type)
            errors.append(exc)
    if errors:
        raise errors[0]
    return sent


# --- DAG callbacks ---------------------------------------------------------------------------------


def _describe_run(context: Mapping[str, Any], outcome: str) -> tuple[str, str, dict[str, Any]]:
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    dag_id = getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", "?")
    run_id = context.get("run_id") or getattr(dag_run, "run_id", "?")
    reason = context.get("reason") or ""
    lines = [f"Pipeline {dag_id} run {run_id} {outcome}."]
    if reason:
        lines.append(f"Reason: {reason}")
    failed: list[str] = []
    relevant = context.get("ti") or context.get("task_instance")
    if relevant is not None and outcome == "failed" and getattr(relevant, "task_id", None):
        failed.append(str(relevant.task_id))
    try:
        for ti in dag_run.get_task_instances(state=["failed", "upstream_failed"]):  # type: ignore[union-attr]
            if ti.task_id not in failed:
                failed.append(f"{ti.task_id} ({ti.state})")
    except Exception:
        log.debug("could not list the run's task instances", exc_info=True)
    if failed:
        lines.append("Failed task(s): " + ", ".join(failed))
    exception = context.get("exception")
    if exception:
        lines.append(f"Error: {exception}")
    subject = f"[{outcome}] {dag_id} {run_id}"
    payload = {"dag_id": dag_id, "run_id": run_id, "outcome": outcome, "failed_tasks": failed, "reason": reason}
    return subject, "\n".join(lines), payload


def _outcome(context: Mapping[str, Any]) -> str:
    dag_run = context.get("dag_run")
    state = str(getattr(dag_run, "state", "") or "").lower()
    reason = str(context.get("reason") or "").lower()
    if state.endswith("success") or reason == "success":
        return "succeeded"
    return "failed"


def build_callbacks(
    notifier_specs: Sequence[Mapping[str, Any]], *, outcome: str | None = None
) -> list[Callable]:
    """One Airflow callback per notifier spec (validated now, sent later).

    ``outcome`` words the message; by default it is read from the run's
    state, so the same list serves ``on_failure`` and ``on_success``.  A
    callback never raises: a notification problem must not turn into a second
    failure of the run.
    """
    callbacks: list[Callable] = []
    for spec in parse_notifiers(notifier_specs):

        def callback(context: Mapping[str, Any], _spec: NotifierSpec = spec) -> None:
            subject, text, payload = _describe_run(context, outcome or _outcome(context))
            if isinstance(_spec, SmtpNotifierSpec) and _spec.subject:
                subject = _spec.subject
            try:
                send([_spec], subject, text, payload=payload)
            except Exception:
                log.exception("%s notification for %s could not be sent", _spec.type, payload["dag_id"])

        callback.__name__ = f"notify_{spec.type}"
        callback.__qualname__ = callback.__name__
        callbacks.append(callback)
    return callbacks


def summary_html(title: str, sections: Mapping[str, Mapping[str, Any] | str]) -> str:
    """A plain HTML rendering of a summary: one table per section."""
    parts = [f"<h2>{html.escape(title)}</h2>"]
    for heading, content in sections.items():
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        if isinstance(content, str):
            parts.append(f"<p>{html.escape(content)}</p>")
            continue
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_show(v))}</td></tr>" for k, v in content.items()
        )
        parts.append(f"<table border='1' cellpadding='4'>{rows}</table>")
    return "\n".join(parts)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)
