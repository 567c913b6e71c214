"""The summary mail: readable as text and as HTML, values escaped, plots inline by content id."""

from __future__ import annotations

from email import message_from_bytes

from pipeline_factory.notify import mime_message
from pipeline_factory.stages.ml.notify import as_html, as_text

SUMMARY = {
    "decision": "rejected", "reason": "not approved: rejected by <b>eve</b>", "margin": -0.015,
    "rule": "macro_f1 must beat the champion by at least 0.001", "approval": "rejected by <b>eve</b>: too slow",
    "rows_note": "the same 76 held-out rows",
    "metrics": [{"metric": "macro_f1", "candidate": 0.97, "champion": 0.985, "delta": -0.015},
                {"metric": "component_avg_r2", "candidate": 0.96, "champion": None, "delta": None}],
    "models": [{"name": "diagnosis_lgbm", "what": "lightgbm classify on diagnosis", "seconds": 0.1,
                "version": "p.diagnosis_lgbm v2", "url": "http://mlflow/#/models/p.diagnosis_lgbm/versions/2"}],
    "data": {"rows added": 95}, "links": {"MLflow run": "http://mlflow/#/experiments/1/runs/abc"},
    "plots": [{"file": "unused", "title": "diagnosis_lgbm: confusion matrices", "cid": "confusion_diagnosis_lgbm"}],
}


def test_the_text_part_has_the_table_with_signed_deltas():
    text = as_text("Pipeline p, run r", SUMMARY)
    assert "Decision: rejected" in text and "Approval: rejected by <b>eve</b>: too slow" in text
    assert "metric" in text and "candidate" in text and "champion" in text and "delta" in text
    assert "-0.0150" in text and "0.9850" in text
    assert "p.diagnosis_lgbm v2" in text and "http://mlflow/#/experiments/1/runs/abc" in text


def test_the_html_part_escapes_values_and_references_each_plot():
    body = as_html("Pipeline p, run r", SUMMARY)
    assert "<b>eve</b>" not in body and "&lt;b&gt;eve&lt;/b&gt;" in body
    assert "src='cid:confusion_diagnosis_lgbm'" in body
    assert "href='http://mlflow/#/models/p.diagnosis_lgbm/versions/2'" in body


def test_the_message_is_text_or_html_with_inline_images():
    png = b"\x89PNG\r\n\x1a\nfake"
    message = mime_message("s", "from@example.org", ["to@example.org"], [], "plain", "<img src='cid:plot_a'>",
                           {"plot_a": png})
    parsed = message_from_bytes(message.as_bytes())
    assert parsed.get_content_type() == "multipart/alternative"
    plain, related = parsed.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, image = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert image["Content-ID"] == "<plot_a>" and image.get_payload(decode=True) == png
    assert image.get_content_disposition() == "inline"
