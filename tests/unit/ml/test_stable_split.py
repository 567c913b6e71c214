"""The time-based split stays stable as the incremental dataset grows: no row is ever trained on and then tested on."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.ml.preprocess import ROW_ID, SplitBounds, row_ids, split_by_time

T0 = datetime(2026, 1, 1)

#: One batch = the day offsets of its rows; late batches may bring rows older than anything seen so far.
batches = st.lists(st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=40), min_size=1,
                   max_size=6)
fractions = st.tuples(st.sampled_from([0.0, 0.1, 0.15, 0.3]), st.sampled_from([0.1, 0.2, 0.35]))


def _frame(days: list[int], start: int):
    import pandas as pd

    frame = pd.DataFrame({"measured_at": [T0 + timedelta(days=d) for d in days],
                          "value": [float(start + i) for i in range(len(days))]})
    frame[ROW_ID] = row_ids(frame)
    return frame


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=batches, fractions=fractions)
def test_no_row_seen_in_training_ever_reaches_a_later_test_split(batches, fractions):
    import pandas as pd

    validation_fraction, test_fraction = fractions
    dataset = pd.DataFrame()
    previous: SplitBounds | None = None
    seen: set[int] = set()  # rows some earlier run trained or early-stopped on
    trained: set[int] = set()
    start = 0
    for days in batches:
        dataset = pd.concat([dataset, _frame(days, start)], ignore_index=True)
        start += len(days)
        try:
            parts, bounds = split_by_time(dataset, "measured_at", validation_fraction, test_fraction,
                                          previous=previous)
        except StageError:
            continue  # too few rows to train yet: nothing was trained, nothing to leak
        ids = {name: set(part[ROW_ID]) for name, part in parts.items()}
        # Time-based: every training row is older than every validation row, which are older than every test row.
        if len(parts["train"]) and len(parts["validation"]):
            assert parts["train"]["measured_at"].max() < parts["validation"]["measured_at"].min()
        assert parts["train"]["measured_at"].max() < parts["test"]["measured_at"].min()
        # Every row is in exactly one split.
        assert sum(len(p) for p in parts.values()) == len(dataset)
        # Stable: what was trained on stays training; nothing seen before becomes test.
        assert not ids["test"] & seen
        assert trained <= ids["train"]
        # The bounds never move back.
        if previous is not None:
            assert bounds.test_from >= previous.test_from
            assert bounds.validation_from >= previous.validation_from
        seen |= ids["train"] | ids["validation"]
        trained |= ids["train"]
        previous = bounds


def test_the_same_rows_always_give_the_same_split():
    import pandas as pd

    days = [5, 1, 1, 3, 9, 9, 9, 2, 7, 4, 6, 8, 0, 3, 5, 5, 2, 6]
    frame = _frame(days, 0)
    shuffled = frame.sample(frac=1.0, random_state=3)
    a, _ = split_by_time(frame, "measured_at", 0.1, 0.2)
    b, _ = split_by_time(shuffled, "measured_at", 0.1, 0.2)
    for name in a:
        pd.testing.assert_frame_equal(a[name].reset_index(drop=True), b[name].reset_index(drop=True))


def test_a_late_batch_of_old_rows_does_not_pull_trained_rows_into_the_test_split():
    import pandas as pd

    first = _frame(list(range(100, 150)), 0)
    parts1, bounds1 = split_by_time(first, "measured_at", 0.0, 0.2)
    late = _frame(list(range(0, 100)), 1000)  # twice as many rows, all older than anything seen
    grown = pd.concat([first, late], ignore_index=True)
    unstable, _ = split_by_time(grown, "measured_at", 0.0, 0.2)
    stable, bounds2 = split_by_time(grown, "measured_at", 0.0, 0.2, previous=bounds1)
    trained_before = set(parts1["train"][ROW_ID])
    assert set(unstable["test"][ROW_ID]) & trained_before  # what a split without memory would do
    assert not set(stable["test"][ROW_ID]) & trained_before
    assert bounds2.test_from == bounds1.test_from
    assert set(stable["test"][ROW_ID]) == set(parts1["test"][ROW_ID])


def test_row_ids_do_not_depend_on_column_order():
    frame = _frame([1, 2, 3], 0).drop(columns=ROW_ID)
    assert list(row_ids(frame)) == list(row_ids(frame[list(reversed(frame.columns))]))
    with pytest.raises(AssertionError):
        assert list(row_ids(frame)) == list(row_ids(frame.assign(value=frame["value"] + 1)))
