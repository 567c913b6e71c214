"""The promotion lock: one holder at a time, a bounded wait, stale leases taken over."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline_factory.tracking.promotion_lock import PromotionLockTimeout, promotion_lock


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


def test_a_second_holder_waits_until_the_first_releases(url):
    events: list[str] = []
    entered = threading.Event()

    def second() -> None:
        entered.wait()
        with promotion_lock("m", url=url, poll_seconds=0.02):
            events.append("second in")

    thread = threading.Thread(target=second)
    thread.start()
    with promotion_lock("m", url=url):
        entered.set()
        time.sleep(0.3)
        events.append("first out")
    thread.join(5)
    assert events == ["first out", "second in"]


def test_locks_of_different_models_do_not_block_each_other(url):
    with promotion_lock("a", url=url), promotion_lock("b", url=url, timeout_seconds=0.2):
        pass


def test_waiting_is_bounded(url):
    with (
        promotion_lock("m", url=url),
        pytest.raises(PromotionLockTimeout, match="within"),
        promotion_lock("m", url=url, timeout_seconds=0.2, poll_seconds=0.05),
    ):
        pass


def test_a_stale_lease_is_taken_over(url):
    manager = promotion_lock("m", url=url, lease_seconds=0.1)
    manager.__enter__()  # a holder that died without releasing
    time.sleep(0.2)
    with promotion_lock("m", url=url, timeout_seconds=1):
        pass
