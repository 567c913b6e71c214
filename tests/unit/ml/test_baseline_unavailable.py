"""A champion that cannot be scored is always a decision: refused or promoted per the rule, never a crash."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.tracking.promotion_rule import CHALLENGER, CHAMPION, PromotionRule, decide

values = st.floats(min_value=0, max_value=1, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(value=values, floor=st.none() | values, guard=values, r2=values, setting=st.sampled_from(["refuse", "promote"]),
       reason=st.text(min_size=1, max_size=80))
def test_an_unavailable_baseline_never_promotes_under_refuse_and_never_skips_the_checks(value, floor, guard, r2,
                                                                                        setting, reason):
    rule = PromotionRule(floor=floor, guardrails={"component_avg_r2": f">= {guard}"}, baseline_unavailable=setting)
    decision = decide(rule, {"macro_f1": value, "component_avg_r2": r2}, None, baseline_unavailable=reason)
    assert decision.baseline == "unavailable"
    assert reason in decision.reason and f"baseline_unavailable: {setting}" in decision.reason
    checks_pass = (floor is None or value >= floor) and r2 >= guard
    expected = CHAMPION if setting == "promote" and checks_pass else CHALLENGER
    assert decision.outcome == expected


def test_credentials_in_a_store_uri_never_reach_the_reason(monkeypatch):
    import pandas as pd

    from pipeline_factory.stages.ml import compare

    def leaky(*args, **kwargs):
        raise RuntimeError("cannot reach https://ml:s3cr3t@mlflow.internal/api/2.0 (timeout)")

    monkeypatch.setattr(compare, "champion_seen_rows", leaky)
    rows = pd.DataFrame({"row_id": [1, 2], "measured_at": pd.to_datetime(["2026-01-01", "2026-01-02"])})
    champion = SimpleNamespace(run_id="r", version="1", name="p.m")
    result = compare.compare_on_rows(None, champion, {}, rows, lead_model="m", prefix="p.",
                                     time_column="measured_at", classes=["a", "b"])
    assert result.unavailable and "s3cr3t" not in result.unavailable and "***@mlflow.internal" in result.unavailable
