"""Promote a registered candidate: lock, re-read the champion, decide, move aliases.

The champion is read *inside* the lock: a decision taken on a champion read
before the lock could be stale by the time the alias moves, which is exactly
the race the lock exists to prevent.  For the same reason the champion is
scored on the candidate's rows inside the lock (``compare``): the rule then
sees two sets of metrics on one set of rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pipeline_factory.tracking.promotion_lock import promotion_lock
from pipeline_factory.tracking.promotion_rule import (
    CHALLENGER,
    CHAMPION,
    REJECTED,
    Decision,
    PromotionRule,
    decide,
)
from pipeline_factory.tracking.registry import (
    RegisteredVersion,
    run_metrics,
    set_alias_on_set,
    tag_set,
    version_by_alias,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from pipeline_factory.stages.ml.compare import Comparison

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromotionResult:
    decision: Decision
    lead_model: str
    candidate_version: str
    previous_champion_version: str | None
    champion_version: str
    comparison: Comparison | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.decision.as_dict(),
            "lead_model": self.lead_model,
            "candidate_version": self.candidate_version,
            "previous_champion_version": self.previous_champion_version,
            "champion_version": self.champion_version,
            "comparison": self.comparison.summary() if self.comparison is not None else None,
        }


#: Metrics whose candidate and champion values are tagged on every version (besides the rule's own).
HEADLINE_METRICS = ("macro_f1", "accuracy", "component_avg_r2", "component_avg_rmse")


def comparison_tags(comparison: Comparison, rule: PromotionRule, prefix: str = "promotion.") -> dict[str, str]:
    """Both models' metrics on the same rows, the rows' count and fingerprint, as version tags."""
    tags = {
        f"{prefix}rows": str(comparison.rows),
        f"{prefix}rows_fingerprint": comparison.fingerprint,
        f"{prefix}excluded_rows": str(comparison.excluded_rows),
    }
    if comparison.unavailable:
        tags[f"{prefix}baseline_unavailable"] = comparison.unavailable
    names = dict.fromkeys([*rule.required_metrics(), *HEADLINE_METRICS])
    for whose, metrics in (("candidate", comparison.candidate), ("champion", comparison.champion or {})):
        for name in names:
            if name in metrics:
                tags[f"{prefix}{whose}.{name}"] = f"{float(metrics[name]):.6g}"
    return tags


def promote(
    client: MlflowClient,
    rule: PromotionRule,
    candidate_run_id: str,
    versions: Mapping[str, RegisteredVersion],
    lead_model: str,
    *,
    extra_tags: Mapping[str, str] | None = None,
    lock_timeout_seconds: float = 600.0,
    compare: Callable[[ModelVersion], Comparison] | None = None,
    veto: str | None = None,
) -> PromotionResult:
    """Decide and apply the promotion of one run's model set.

    ``versions`` maps the spec's model names to their registered versions;
    ``lead_model`` is the key whose champion the rule compares against.
    ``compare`` scores the champion and the candidate on the same rows; without
    it the rule compares the metrics each run logged on its own test split.
    ``veto`` (a person's "Reject", or no answer in time) records the rule's
    verdict but moves no alias: the outcome is ``rejected``.
    """
    if lead_model not in versions:
        raise KeyError(f"lead model {lead_model!r} is not among the registered models {sorted(versions)}")
    lead = versions[lead_model]
    candidate_metrics = run_metrics(client, candidate_run_id)
    with promotion_lock(lead.name, timeout_seconds=lock_timeout_seconds):
        current = version_by_alias(client, lead.name, CHAMPION)
        if current is not None and current.run_id == candidate_run_id:
            # A retried task whose first attempt already promoted this run.
            decision = Decision(
                CHAMPION, "already the champion (promotion retried)", candidate_metrics.get(rule.metric, 0.0),
                candidate_metrics.get(rule.metric), 0.0, baseline="retried",
            )
            return PromotionResult(decision, lead_model, lead.version, str(current.version), str(current.version))
        comparison = None
        if current is None:
            decision = decide(rule, candidate_metrics, None)
        elif compare is None:
            decision = decide(rule, candidate_metrics, run_metrics(client, current.run_id), baseline="logged")
        else:
            comparison = compare(current)
            if comparison.unavailable:
                decision = decide(rule, {**candidate_metrics, **comparison.candidate}, None,
                                  baseline_unavailable=comparison.unavailable)
            else:
                decision = decide(rule, comparison.candidate, comparison.champion)
        if veto is not None:
            decision = replace(decision, outcome=REJECTED, reason=f"{veto}; the rule alone: {decision.reason}")
        tags = {**decision.as_tags(), **(extra_tags or {})}
        if comparison is not None:
            tags.update(comparison_tags(comparison, rule))
        if current is not None:
            tags["promotion.compared_to_version"] = str(current.version)
        tag_set(client, versions, tags)
        if decision.outcome == CHAMPION:
            set_alias_on_set(client, versions, CHAMPION)
            champion_version = lead.version
        elif decision.outcome == REJECTED:
            champion_version = str(current.version) if current is not None else ""
        else:
            set_alias_on_set(client, versions, CHALLENGER)
            champion_version = str(current.version) if current is not None else ""
    log.info("promotion of %s v%s: %s (%s)", lead.name, lead.version, decision.outcome, decision.reason)
    return PromotionResult(
        decision, lead_model, lead.version, str(current.version) if current is not None else None, champion_version,
        comparison,
    )
