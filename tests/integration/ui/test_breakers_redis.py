"""The Pipelines view reads breaker state from a real Redis, where deployments keep it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_factory.exceptions import CircuitOpenError, TransientServiceError
from pipeline_factory.resilience.breaker import shared_breaker
from pipeline_factory.resilience.policy import CircuitBreakerPolicy
from pipeline_factory.ui import overview

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make system-deps)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir: Path = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/1"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _unavailable() -> None:
    raise TransientServiceError("503 from the stand-in", status=503)


def test_breakers_section_lists_every_shared_breaker_in_redis(redis_url: str) -> None:
    policy = CircuitBreakerPolicy(failure_threshold=2, reset_timeout_seconds=60, success_threshold=1)
    tripped = shared_breaker("ncbi_eutils", policy, redis_url=redis_url)
    for _ in range(2):
        with pytest.raises(TransientServiceError):
            tripped.call(_unavailable)
    with pytest.raises(CircuitOpenError):
        tripped.call(_unavailable)
    shared_breaker("pdf_hosts", policy, redis_url=redis_url).call(lambda: "ok")

    data = overview.breakers_overview(redis_url=redis_url)

    assert data["store"] == "redis"
    by_name = {b["name"]: b for b in data["breakers"]}
    assert set(by_name) == {"ncbi_eutils", "pdf_hosts"}
    assert by_name["ncbi_eutils"]["state"] == "open" and by_name["ncbi_eutils"]["opened_at"]
    assert by_name["pdf_hosts"]["state"] == "closed" and by_name["pdf_hosts"]["fail_counter"] == 0
