"""URLs a run may fetch: allowed schemes, public destinations, checked where it counts.

A ``pdf_url`` or a ``source_url`` comes from a run's params or from a
record an external source sent; the worker fetches it from inside the
deployment's network.  Without a rule that is a server-side request forgery:
``http://127.0.0.1:8080/`` (the api-server), ``http://169.254.169.254/``
(cloud metadata), a private database's HTTP port.

The rule:

* only the schemes in ``PIPELINE_URL_SCHEMES`` (default ``http,https``);
* by default no destination that is not globally routable (loopback,
  link-local, private, carrier-grade NAT, multicast, reserved, unspecified,
  and the same inside IPv4-mapped IPv6);
* checked on the **resolved** addresses, at connect time, so a public name
  that resolves to a private address is refused, and the connection goes to
  the address that was checked (no second lookup to rebind);
* checked again on **every redirect**, because each hop opens its own
  connection through the same guard and passes the scheme check first;
* ``PIPELINE_URL_ALLOWLIST`` opens exceptions for internal mirrors: comma
  separated host names (``mirror.internal``, ``*.corp.example``) and
  addresses or networks (``10.20.0.0/16``, ``127.0.0.1``).

Proxies from the environment are not used by the guarded client: a proxy
would resolve names itself, past the check.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pipeline_factory.exceptions import InputRefused

SCHEMES_ENV = "PIPELINE_URL_SCHEMES"
ALLOWLIST_ENV = "PIPELINE_URL_ALLOWLIST"
DEFAULT_SCHEMES = ("http", "https")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def redact_url(url: str) -> str:
    """A URL as errors show it: no ``user:password@``, no query string (tokens live there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    shown = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else url.split("?", 1)[0]
    return shown if len(shown) <= 200 else shown[:200] + "..."


@dataclass(frozen=True)
class UrlPolicy:
    """What a fetch may reach; :meth:`from_env` reads the deployment's settings."""

    schemes: frozenset[str] = frozenset(DEFAULT_SCHEMES)
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls) -> UrlPolicy:
        schemes = os.environ.get(SCHEMES_ENV, "").strip()
        return cls.parse(
            schemes=[s for s in schemes.split(",") if s.strip()] if schemes else DEFAULT_SCHEMES,
            allowlist=[s for s in os.environ.get(ALLOWLIST_ENV, "").split(",") if s.strip()],
        )

    @classmethod
    def parse(cls, *, schemes: Iterable[str] = DEFAULT_SCHEMES, allowlist: Iterable[str] = ()) -> UrlPolicy:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in allowlist:
            entry = raw.strip().lower()
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(
            schemes=frozenset(s.strip().lower().rstrip(":") for s in schemes),
            allowed_hosts=frozenset(hosts),
            allowed_networks=tuple(networks),
        )

    # -- the checks -----------------------------------------------------------

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for entry in self.allowed_hosts:
            if entry.startswith("*.") and (host.endswith(entry[1:]) or host == entry[2:]):
                return True
            if host == entry:
                return True
        return False

    def address_refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be reached, or ``None`` when it may."""
        if any(address in network for network in self.allowed_networks):
            return None
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:
            return self.address_refusal(mapped)
        if address.is_global and not address.is_multicast:
            return None
        for kind in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
            if getattr(address, f"is_{kind}"):
                return f"a {kind.replace('_', '-')} address"
        return "not a public address"

    def check_url(self, url: str, *, what: str = "URL") -> str:
        """Scheme and host of ``url``; literal addresses are checked here, names when they are resolved."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise InputRefused(f"{what} {redact_url(url)} refused: {exc}", what=what, reason="malformed") from None
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            raise InputRefused(
                f"{what} {redact_url(url)} refused: scheme {scheme or 'none'!r} is not allowed "
                f"(allowed: {', '.join(sorted(self.schemes))})",
                what=what,
                reason="scheme",
            )
        host = parts.hostname
        if not host:
            raise InputRefused(f"{what} {redact_url(url)} refused: no host", what=what, reason="malformed")
        if self.host_allowed(host):
            return host
        address = _literal_address(host)
        if address is None:
            return host  # a name: checked once resolved
        refusal = self.address_refusal(address)
        if refusal:
            raise InputRefused(
                f"{what} {redact_url(url)} refused: {host} is {refusal} (set {ALLOWLIST_ENV} for an internal mirror)",
                what=what,
                reason="destination",
            )
        return host

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``, every one of them checked."""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            candidates = [str(literal)]
        else:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                import httpcore

                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
            candidates = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if self.host_allowed(host):
            return candidates
        for candidate in candidates:
            refusal = self.address_refusal(ipaddress.ip_address(candidate.split("%", 1)[0]))
            if refusal:
                raise InputRefused(
                    f"destination {host} refused: it resolves to {candidate}, {refusal} "
                    f"(set {ALLOWLIST_ENV} for an internal mirror)",
                    what="URL",
                    reason="destination",
                )
        return candidates


def _literal_address(host: str) -> IPAddress | None:
    """``host`` as an address when it is one, including the short IPv4 forms resolvers accept (``127.1``)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.ip_address(socket.inet_aton(host))
    except OSError:
        return None


def _guarded_backend(policy: UrlPolicy) -> Any:
    import httpcore

    class GuardedBackend(httpcore.SyncBackend):
        """Resolves, checks every address, then connects to a checked address (no second lookup)."""

        def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                        local_address: str | None = None, socket_options: Any = None) -> Any:
            error: Exception | None = None
            for address in policy.resolve(host, port):
                try:
                    return super().connect_tcp(address, port, timeout, local_address, socket_options)
                except httpcore.ConnectError as exc:  # try the next address, as create_connection would
                    error = exc
            raise error or httpcore.ConnectError(f"cannot connect to {host}")

    return GuardedBackend()


def guarded_client(policy: UrlPolicy | None = None, **kwargs: Any) -> Any:
    """An ``httpx.Client`` that refuses what ``policy`` refuses, on the first request and every redirect."""
    import httpx

    policy = policy or UrlPolicy.from_env()
    transport = httpx.HTTPTransport(retries=0)
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):  # never fall back to an unguarded client
        raise RuntimeError("httpcore's connection pool changed: the URL guard cannot be installed")
    pool._network_backend = _guarded_backend(policy)  # httpcore's pool connects through any backend

    def check(request: httpx.Request) -> None:
        policy.check_url(str(request.url))

    hooks = kwargs.pop("event_hooks", {}) or {}
    hooks = {**hooks, "request": [check, *hooks.get("request", [])]}
    return httpx.Client(transport=transport, event_hooks=hooks, trust_env=False, **kwargs)
