"""Circuit breakers whose state every process shares.

pybreaker keeps its state in a :class:`pybreaker.CircuitBreakerStorage`; the
default one lives in process memory, so a new task would happily hammer an API
the previous task just found down.  Here the state lives in Redis when
``PIPELINE_REDIS_URL`` is set (pybreaker's own Redis storage) and otherwise in
the ``circuit_breakers`` table of the ledger database
(:mod:`pipeline_factory.stores.ledger_db`, created by its migrations).

:class:`SharedBreaker` wraps a pybreaker breaker built from a policy and turns
its ``CircuitBreakerError`` into the project's :class:`CircuitOpenError`.  A
429 is not a failure of the service (it answered, asking us to slow down), so
it never counts towards opening the breaker.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pybreaker
import sqlalchemy as sa

from pipeline_factory.exceptions import CircuitOpenError, TransientServiceError
from pipeline_factory.resilience.policy import CircuitBreakerPolicy
from pipeline_factory.stores import ledger_db
from pipeline_factory.stores.ledger_schema import circuit_breakers as breaker_table

log = logging.getLogger(__name__)

T = TypeVar("T")

class SQLBreakerStorage(pybreaker.CircuitBreakerStorage):
    """Breaker state in one row per breaker name; every read goes to the database.

    Counter updates are single ``UPDATE ... SET x = x + 1`` statements, so
    concurrent processes never lose an increment.
    """

    def __init__(self, name: str, url: str | None = None):
        super().__init__(name)
        self._engine = ledger_db.engine(url)
        if self._get(breaker_table.c.name) is None:
            with contextlib.suppress(sa.exc.IntegrityError), self._engine.begin() as conn:
                conn.execute(
                    breaker_table.insert().values(
                        name=name, state=pybreaker.STATE_CLOSED, fail_counter=0, success_counter=0
                    )
                )

    def _get(self, column: sa.Column) -> Any:
        with self._engine.connect() as conn:
            return conn.execute(sa.select(column).where(breaker_table.c.name == self._name)).scalar()

    def _set(self, **values: Any) -> None:
        values["updated_at"] = datetime.now(UTC).timestamp()
        with self._engine.begin() as conn:
            conn.execute(breaker_table.update().where(breaker_table.c.name == self._name).values(**values))

    @property
    def state(self) -> str:
        return self._get(breaker_table.c.state) or pybreaker.STATE_CLOSED

    @state.setter
    def state(self, state: str) -> None:
        self._set(state=state)

    def increment_counter(self) -> None:
        self._set(fail_counter=breaker_table.c.fail_counter + 1)

    def reset_counter(self) -> None:
        self._set(fail_counter=0)

    def increment_success_counter(self) -> None:
        self._set(success_counter=breaker_table.c.success_counter + 1)

    def reset_success_counter(self) -> None:
        self._set(success_counter=0)

    @property
    def counter(self) -> int:
        return int(self._get(breaker_table.c.fail_counter) or 0)

    @property
    def success_counter(self) -> int:
        return int(self._get(breaker_table.c.success_counter) or 0)

    @property
    def opened_at(self) -> datetime | None:
        value = self._get(breaker_table.c.opened_at)
        return datetime.fromtimestamp(value, UTC) if value is not None else None

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        self._set(opened_at=value.timestamp())


class RedisBreakerStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage with ``opened_at`` kept to the millisecond.

    The stock storage truncates it to whole seconds, which shortens the open
    period by up to a second: too coarse for short reset timeouts.
    """

    @property
    def opened_at(self) -> datetime | None:
        value = self._redis.get(self._namespace("opened_at_ms"))
        return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        self._redis.set(self._namespace("opened_at_ms"), int(value.timestamp() * 1000))


def _is_rate_limit(exc: BaseException) -> bool:
    return isinstance(exc, TransientServiceError) and exc.status == 429


@dataclass
class BreakerStats:
    rejected: int = 0
    transitions: list[str] = field(default_factory=list)


class _Recorder(pybreaker.CircuitBreakerListener):
    def __init__(self, stats: BreakerStats):
        self.stats = stats

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        old = old_state.name if old_state is not None else "?"
        self.stats.transitions.append(f"{old}->{new_state.name}")
        log.warning("circuit breaker %s: %s -> %s", cb.name, old, new_state.name)


class _SharedStateBreaker(pybreaker.CircuitBreaker):
    """Adopts a state another process set without re-running that transition's side effects.

    pybreaker re-creates the state object with ``notify=True`` when it notices a
    change in storage, which resets the shared counters: a process that merely
    noticed "half-open" would wipe the successes counted by the process that
    made the trial calls, and the breaker would never close.
    """

    @property
    def state(self):
        stored = self.current_state
        if stored != self._state.name:
            with self._lock:
                self._state = self._create_new_state(stored, prev_state=self._state, notify=False)
        return self._state

    @state.setter
    def state(self, state_str: str) -> None:
        with self._lock:
            self._state = self._create_new_state(state_str, prev_state=self._state, notify=True)

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # pybreaker holds its lock for the whole call, which would serialise the
        # concurrent requests of one task; the shared storage already arbitrates.
        return self.state.call(func, *args, **kwargs)


class SharedBreaker:
    """A pybreaker breaker on shared storage, raising :class:`CircuitOpenError` when open."""

    def __init__(self, name: str, policy: CircuitBreakerPolicy, storage: pybreaker.CircuitBreakerStorage):
        self.name = name
        self.policy = policy
        self.stats = BreakerStats()
        self._breaker = _SharedStateBreaker(
            fail_max=policy.failure_threshold,
            reset_timeout=policy.reset_timeout_seconds,
            success_threshold=policy.success_threshold,
            exclude=[_is_rate_limit],
            listeners=[_Recorder(self.stats)],
            state_storage=storage,
            name=name,
            throw_new_error_on_trip=False,
        )

    @property
    def state(self) -> str:
        return self._breaker.current_state

    @property
    def fail_counter(self) -> int:
        return self._breaker.fail_counter

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return self._breaker.call(fn, *args, **kwargs)
        except pybreaker.CircuitBreakerError as exc:
            self.stats.rejected += 1
            raise CircuitOpenError(
                f"circuit breaker {self.name!r} is open; not calling for up to "
                f"{self.policy.reset_timeout_seconds:g}s",
                service=self.name,
            ) from exc

    def reset(self) -> None:
        """Force the breaker closed (operators and tests)."""
        self._breaker.close()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "fail_counter": self.fail_counter,
            "rejected": self.stats.rejected,
            "transitions": list(self.stats.transitions),
            "opened_at": self._opened_at(),
        }

    def _opened_at(self) -> str | None:
        """When the breaker last opened (ISO), for "open longer than" alerts; None when unknown."""
        try:
            opened = self._breaker._state_storage.opened_at
        except Exception:
            return None
        return opened.isoformat() if opened else None


def breaker_storage(name: str, *, redis_url: str | None = None, ledger_url: str | None = None):
    """Redis storage when configured, else the ledger database."""
    redis_url = redis_url or os.environ.get("PIPELINE_REDIS_URL")
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        return RedisBreakerStorage(pybreaker.STATE_CLOSED, client, namespace=f"pipeline_factory:breaker:{name}")
    return SQLBreakerStorage(name, ledger_url)


def shared_breaker(name: str, policy: CircuitBreakerPolicy, **storage_kwargs: Any) -> SharedBreaker:
    return SharedBreaker(name, policy, breaker_storage(name, **storage_kwargs))
