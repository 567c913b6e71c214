"""The promotion rule: when does a candidate model replace the champion?

Pure and free of MLflow so the rule can be tested exhaustively and read by a
person: the rule sees two dicts of metrics (the candidate's and the current
champion's, or ``None`` when there is no champion) and returns a decision with
a reason that quotes the numbers it compared.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
#: A person said no (or nobody answered in time): the rule's verdict is recorded, no alias moves.
REJECTED: Final = "rejected"

_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_GUARDRAIL = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Guardrail:
    """``metric OP threshold``, e.g. ``component_avg_r2 >= 0.95``."""

    metric: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, metric: str, expression: str) -> Guardrail:
        match = _GUARDRAIL.match(str(expression))
        if not match:
            raise ValueError(
                f"guardrail {metric!r}: {expression!r} is not of the form '<op> <number>' "
                f"with op one of {', '.join(_COMPARATORS)}"
            )
        return cls(metric=metric, op=match.group(1), threshold=float(match.group(2)))

    def check(self, value: float) -> bool:
        return _COMPARATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


class PromotionRule(BaseModel):
    """What a spec's ``promote`` stage says about promotion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field("macro_f1", description="The metric the candidate must improve.")
    higher_is_better: bool = Field(True, description="False for error metrics such as RMSE.")
    min_improvement: float = Field(
        0.0, ge=0, description="The candidate must beat the champion by at least this much."
    )
    floor: float | None = Field(
        None, description="The candidate's metric must reach this (a ceiling when lower is better)."
    )
    guardrails: dict[str, str] = Field(
        default_factory=dict, description='Other metrics that must hold, e.g. {component_avg_r2: ">= 0.95"}.'
    )
    baseline_unavailable: Literal["refuse", "promote"] = Field(
        "refuse",
        description="When the champion cannot be scored on the candidate's rows (artifact gone, features "
        "changed): refuse keeps it; promote lets a candidate that passes the floor and guardrails replace it.",
    )

    @field_validator("guardrails")
    @classmethod
    def _parse_guardrails(cls, value: dict[str, str]) -> dict[str, str]:
        for metric, expression in value.items():
            Guardrail.parse(metric, expression)
        return value

    def parsed_guardrails(self) -> list[Guardrail]:
        return [Guardrail.parse(metric, expression) for metric, expression in self.guardrails.items()]

    def required_metrics(self) -> list[str]:
        return [self.metric, *self.guardrails]


@dataclass(frozen=True)
class Decision:
    """The outcome of the rule, with everything a reviewer needs to check it."""

    outcome: Literal["champion", "challenger", "rejected"]
    reason: str
    candidate_value: float
    champion_value: float | None
    margin: float | None
    failed_checks: list[str] = field(default_factory=list)
    #: "same_rows" (both scored on one set of rows), "none" (no champion), "unavailable", "logged" (own
    #: splits), "retried" (this run is already the champion)
    baseline: str = "same_rows"

    @property
    def promoted(self) -> bool:
        return self.outcome == CHAMPION

    def as_tags(self, prefix: str = "promotion.") -> dict[str, str]:
        """Model-version tags: strings only, as MLflow stores them."""
        tags = {
            f"{prefix}decision": self.outcome,
            f"{prefix}reason": self.reason,
            f"{prefix}candidate_value": _fmt(self.candidate_value),
            f"{prefix}baseline": self.baseline,
        }
        if self.champion_value is not None:
            tags[f"{prefix}champion_value"] = _fmt(self.champion_value)
        if self.margin is not None:
            tags[f"{prefix}margin"] = _fmt(self.margin)
        return tags

    def as_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "candidate_value": self.candidate_value,
            "champion_value": self.champion_value,
            "margin": self.margin,
            "failed_checks": list(self.failed_checks),
            "baseline": self.baseline,
        }


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _metric(metrics: Mapping[str, float], name: str, whose: str) -> float:
    if name not in metrics:
        known = ", ".join(sorted(metrics)) or "none"
        raise KeyError(f"the {whose} has no metric {name!r} (it has: {known})")
    value = float(metrics[name])
    if math.isnan(value):
        raise ValueError(f"the {whose}'s metric {name!r} is NaN")
    return value


def decide(
    rule: PromotionRule,
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    *,
    baseline_unavailable: str | None = None,
    baseline: str = "same_rows",
) -> Decision:
    """Apply ``rule`` to the candidate's metrics against the champion's.

    ``candidate`` and ``champion`` should be scored on the same rows.  Floor
    and guardrails are absolute checks on the candidate and apply even when
    there is no champion: a first model that fails them becomes a challenger,
    so nothing bad is ever served just because it came first.  A champion that
    exists but could not be scored (``baseline_unavailable`` holds why) is
    handled by the rule's ``baseline_unavailable`` setting.
    """
    value = _metric(candidate, rule.metric, "candidate")
    failed: list[str] = []
    if rule.floor is not None:
        below = value < rule.floor if rule.higher_is_better else value > rule.floor
        if below:
            word = "floor" if rule.higher_is_better else "ceiling"
            failed.append(f"{rule.metric}={_fmt(value)} misses the {word} {_fmt(rule.floor)}")
    for guardrail in rule.parsed_guardrails():
        observed = _metric(candidate, guardrail.metric, "candidate")
        if not guardrail.check(observed):
            failed.append(f"guardrail {guardrail} failed: {guardrail.metric}={_fmt(observed)}")

    if baseline_unavailable is not None:
        head = f"the champion could not be scored on the candidate's rows ({baseline_unavailable})"
        if rule.baseline_unavailable == "refuse":
            failed.insert(0, "baseline unavailable (baseline_unavailable: refuse)")
            return Decision(CHALLENGER, f"{head}; kept it (baseline_unavailable: refuse)", value, None, None,
                            failed, "unavailable")
        if failed:
            return Decision(CHALLENGER, f"{head}; not promoted without a comparison (baseline_unavailable: "
                            "promote) because " + "; ".join(failed), value, None, None, failed, "unavailable")
        return Decision(CHAMPION, f"{head}; promoted without a comparison (baseline_unavailable: promote); "
                        f"{rule.metric}={_fmt(value)}", value, None, None, [], "unavailable")

    if champion is None:
        if failed:
            return Decision(CHALLENGER, "no champion yet, but " + "; ".join(failed), value, None, None, failed,
                            "none")
        return Decision(CHAMPION, f"no champion yet; {rule.metric}={_fmt(value)}", value, None, None, [], "none")

    champion_value = _metric(champion, rule.metric, "champion")
    margin = value - champion_value if rule.higher_is_better else champion_value - value
    comparison = (
        f"{rule.metric}: candidate {_fmt(value)} vs champion {_fmt(champion_value)}, "
        f"margin {_fmt(margin)} (needs >= {_fmt(rule.min_improvement)})"
    )
    # A tiny tolerance so "exactly min_improvement" passes despite float rounding.
    if margin + 1e-12 < rule.min_improvement or (rule.min_improvement == 0 and margin <= 0):
        failed.insert(0, "does not beat the champion by min_improvement")
    if failed:
        return Decision(
            CHALLENGER, f"{comparison}; " + "; ".join(failed), value, champion_value, margin, failed, baseline
        )
    return Decision(CHAMPION, f"{comparison}; beats the champion", value, champion_value, margin, [], baseline)
