"""URLs: allowed schemes, public destinations, checked after resolution; the allowlist opens mirrors."""

from __future__ import annotations

import ipaddress

import httpcore
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.boundaries.urls import UrlPolicy, redact_url
from pipeline_factory.exceptions import InputRefused

DEFAULT = UrlPolicy.parse()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.pdf",
        "http://127.1/x.pdf",
        "http://[::1]/x.pdf",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/x.pdf",
        "http://192.168.1.1/x.pdf",
        "http://172.16.0.1/x.pdf",
        "http://100.64.0.1/x.pdf",
        "http://0.0.0.0:8080/",
        "http://[::ffff:127.0.0.1]/x.pdf",
        "http://[fe80::1]/x.pdf",
        "http://224.0.0.1/",
    ],
)
def test_non_public_literal_destinations_are_refused(url):
    with pytest.raises(InputRefused, match="refused") as caught:
        DEFAULT.check_url(url, what="pdf_url")
    assert caught.value.reason == "destination"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://x/", "javascript:alert(1)",
                                 "data:application/pdf;base64,JVBERi0=", "x.pdf"])
def test_other_schemes_are_refused(url):
    with pytest.raises(InputRefused, match="scheme") as caught:
        DEFAULT.check_url(url)
    assert caught.value.reason == "scheme"


def test_public_destinations_pass():
    assert DEFAULT.check_url("https://ftp.ncbi.nlm.nih.gov/pub/x.pdf") == "ftp.ncbi.nlm.nih.gov"
    assert DEFAULT.check_url("http://8.8.8.8/x.pdf") == "8.8.8.8"


def test_a_name_is_checked_on_the_addresses_it_resolves_to():
    with pytest.raises(InputRefused, match=r"localhost refused: it resolves to .*loopback"):
        DEFAULT.resolve("localhost", 80)


def test_an_unknown_name_is_a_connection_error_not_a_refusal():
    with pytest.raises(httpcore.ConnectError):
        DEFAULT.resolve("no-such-host.invalid", 80)


def test_the_allowlist_opens_hosts_wildcards_and_networks():
    policy = UrlPolicy.parse(allowlist=["mirror.internal", "*.corp.example", "10.20.0.0/16", "127.0.0.1"])
    assert policy.check_url("http://mirror.internal/x.pdf")
    assert policy.check_url("http://a.b.corp.example/x.pdf")
    assert policy.check_url("http://10.20.3.4/x.pdf")
    assert policy.resolve("127.0.0.1", 80) == ["127.0.0.1"]
    with pytest.raises(InputRefused):
        policy.check_url("http://10.21.0.1/x.pdf")
    with pytest.raises(InputRefused):
        policy.check_url("http://evilcorp.example/x.pdf") and policy.resolve("127.0.0.2", 80)
    assert not policy.host_allowed("corp.example.evil")


def test_the_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PIPELINE_URL_SCHEMES", "https")
    monkeypatch.setenv("PIPELINE_URL_ALLOWLIST", "10.0.0.0/8")
    policy = UrlPolicy.from_env()
    with pytest.raises(InputRefused, match="scheme 'http'"):
        policy.check_url("http://example.org/")
    assert policy.check_url("https://10.1.2.3/")


def test_errors_never_show_credentials_or_query_strings():
    with pytest.raises(InputRefused) as caught:
        DEFAULT.check_url("http://user:s3cret@127.0.0.1/x.pdf?token=abc", what="pdf_url")
    assert "s3cret" not in str(caught.value) and "token=abc" not in str(caught.value)
    assert redact_url("https://u:p@h.example:8443/a?b=c") == "https://h.example:8443/a"


@settings(max_examples=500, deadline=None)
@given(address=st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_no_address_that_is_not_global_is_ever_reachable_by_default(address):
    refusal = DEFAULT.address_refusal(address)
    effective = address.ipv4_mapped if getattr(address, "ipv4_mapped", None) else address
    assert (refusal is None) == (effective.is_global and not effective.is_multicast)


@settings(max_examples=300, deadline=None)
@given(address=st.ip_addresses(v=4, network="127.0.0.0/8") | st.ip_addresses(v=4, network="10.0.0.0/8")
       | st.ip_addresses(v=4, network="169.254.0.0/16") | st.ip_addresses(v=4, network="192.168.0.0/16"))
def test_every_loopback_private_or_link_local_url_is_refused(address):
    with pytest.raises(InputRefused):
        DEFAULT.check_url(f"http://{address}/x.pdf")
    with pytest.raises(InputRefused):
        DEFAULT.check_url(f"http://[::ffff:{address}]/x.pdf")
    assert not ipaddress.ip_address(address).is_global
