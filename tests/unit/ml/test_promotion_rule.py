"""The promotion rule, on plain dicts of metrics."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline_factory.tracking.promotion_rule import Guardrail, PromotionRule, decide

RULE = PromotionRule(metric="macro_f1", min_improvement=0.001, floor=0.80,
                     guardrails={"component_avg_r2": ">= 0.95"})


def test_first_model_becomes_champion_when_it_passes_floor_and_guardrails():
    decision = decide(RULE, {"macro_f1": 0.85, "component_avg_r2": 0.96}, None)
    assert decision.outcome == "champion"
    assert decision.champion_value is None and decision.margin is None
    assert decision.reason.startswith("no champion yet")


@pytest.mark.parametrize(
    ("candidate", "failed"),
    [
        ({"macro_f1": 0.79, "component_avg_r2": 0.99}, "floor"),
        ({"macro_f1": 0.90, "component_avg_r2": 0.94}, "guardrail component_avg_r2 >= 0.95"),
    ],
)
def test_first_model_failing_an_absolute_check_is_only_a_challenger(candidate, failed):
    decision = decide(RULE, candidate, None)
    assert decision.outcome == "challenger"
    assert failed in decision.reason


def test_beating_the_champion_by_min_improvement_promotes_and_quotes_both_values():
    decision = decide(RULE, {"macro_f1": 0.912, "component_avg_r2": 0.97}, {"macro_f1": 0.9, "component_avg_r2": 0.5})
    assert decision.outcome == "champion"
    assert decision.margin == pytest.approx(0.012)
    assert "candidate 0.912 vs champion 0.9" in decision.reason
    tags = decision.as_tags()
    assert tags["promotion.decision"] == "champion"
    assert tags["promotion.champion_value"] == "0.9"
    assert tags["promotion.candidate_value"] == "0.912"


def test_a_margin_below_min_improvement_leaves_the_champion():
    decision = decide(RULE, {"macro_f1": 0.9005, "component_avg_r2": 0.97}, {"macro_f1": 0.9})
    assert decision.outcome == "challenger"
    assert "does not beat the champion by min_improvement" in decision.reason
    assert decision.margin == pytest.approx(0.0005)


def test_exactly_min_improvement_is_enough_despite_float_rounding():
    rule = PromotionRule(metric="macro_f1", min_improvement=0.1)
    assert decide(rule, {"macro_f1": 0.3}, {"macro_f1": 0.2}).outcome == "champion"


def test_with_no_min_improvement_a_tie_does_not_promote():
    rule = PromotionRule(metric="macro_f1")
    assert decide(rule, {"macro_f1": 0.9}, {"macro_f1": 0.9}).outcome == "challenger"
    assert decide(rule, {"macro_f1": 0.9000001}, {"macro_f1": 0.9}).outcome == "champion"


def test_better_metric_that_breaks_a_guardrail_is_a_challenger():
    decision = decide(RULE, {"macro_f1": 0.99, "component_avg_r2": 0.90}, {"macro_f1": 0.85})
    assert decision.outcome == "challenger"
    assert decision.failed_checks == ["guardrail component_avg_r2 >= 0.95 failed: component_avg_r2=0.9"]


def test_lower_is_better_metrics_invert_margin_and_floor():
    rule = PromotionRule(metric="rmse", higher_is_better=False, min_improvement=0.5, floor=10.0)
    assert decide(rule, {"rmse": 8.0}, {"rmse": 9.0}).outcome == "champion"
    assert decide(rule, {"rmse": 8.8}, {"rmse": 9.0}).outcome == "challenger"
    assert "ceiling" in decide(rule, {"rmse": 11.0}, None).reason


def test_a_missing_metric_names_it_and_what_there_is():
    with pytest.raises(KeyError, match=r"no metric 'component_avg_r2'.*macro_f1"):
        decide(RULE, {"macro_f1": 0.9}, None)


@pytest.mark.parametrize("expression", [">= 0.95", "<0.2", "== 1", "> -3e-2", "<= .5"])
def test_guardrail_expressions_parse(expression):
    guardrail = Guardrail.parse("m", expression)
    assert guardrail.metric == "m"
    assert guardrail.check(guardrail.threshold) == (guardrail.op in (">=", "<=", "=="))


@pytest.mark.parametrize("expression", ["0.95", ">= high", "=> 0.9", ">= 0.9 or 1"])
def test_bad_guardrails_are_rejected_at_validation(expression):
    with pytest.raises(ValidationError, match="not of the form"):
        PromotionRule(guardrails={"component_avg_r2": expression})
