"""The texts that become task and DAG-run notes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline_factory.exceptions import CircuitOpenError
from pipeline_factory.observability import notes


class _TaskInstance:
    def __init__(self) -> None:
        self.pushed: dict[str, str] = {}

    def xcom_push(self, key: str, value: str) -> None:
        self.pushed[key] = value


def test_decisions_and_refusals_say_why():
    assert notes.result_note({"kind": "ml.promote", "outcome": "challenger", "reason": "misses the floor"}) == (
        "promotion: challenger: misses the floor")
    consistency = notes.result_note({"outcome": "checked", "found": 2, "remaining": 0,
                                     "found_by_kind": {"papers_missing_in_graph": 2}, "waited_for": []})
    assert consistency == "consistency checked: 2 mismatch(es) found, 0 remain (papers_missing_in_graph 2)"
    assert notes.result_note({"documents": 3}) is None  # an ordinary success keeps an empty note
    refused = notes.refused_note(CircuitOpenError("circuit breaker 'ncbi-eutils' is open", service="ncbi-eutils"))
    assert refused.startswith("refused by the circuit breaker (ncbi-eutils): ")


@given(password=st.text(alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters="!$%&*+-._~"),
                        min_size=6, max_size=30),
       scheme=st.sampled_from(["postgresql", "redis", "https", "bolt"]))
def test_a_note_never_carries_a_url_password(password, scheme):
    ti = _TaskInstance()
    notes.record_note({"ti": ti}, f"skipped: could not reach {scheme}://ledger:{password}@db:5432/ledger")
    assert f":{password}@" not in ti.pushed[notes.NOTE_XCOM_KEY]
    assert "db:5432" in ti.pushed[notes.NOTE_XCOM_KEY]


def test_the_run_note_lists_reasons_then_counts_states():
    text = notes.dag_run_note({"fetch_data": "skipped: no new batches"},
                              {"fetch_data": "skipped", "train": "skipped", "notify": "skipped"})
    assert text == "fetch_data: skipped: no new batches\ntasks: 3 skipped"
    assert notes.dag_run_note({}, {"a": "success"}) is None


@given(st.text(max_size=5000))
def test_any_note_fits_airflows_limit(text):
    assert len(notes.clip(text)) <= notes.NOTE_LIMIT
    assert len(notes.skipped_note(text)) <= notes.NOTE_LIMIT
