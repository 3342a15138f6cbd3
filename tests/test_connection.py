from __future__ import annotations

import json

import pytest

from telzino_provider.connection import ConnectionSettings, normalize_base_url
from telzino_provider.connection_form import DEFAULT_BASE_URL
from telzino_provider.exceptions import TelzinoValidationError
from telzino_provider.version_compat import AIRFLOW_V_3_0_PLUS


def make_conn(**kwargs):
    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.connection import Connection
    else:
        from airflow.models import Connection
    extra = kwargs.pop("extra", None)
    return Connection(conn_id="t", conn_type="telzino", extra=json.dumps(extra) if extra else None, **kwargs)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, DEFAULT_BASE_URL),
        ("", DEFAULT_BASE_URL),
        ("api.telzino.com", "https://api.telzino.com"),
        ("https://api.telzino.com/", "https://api.telzino.com"),
        ("http://127.0.0.1:8099", "http://127.0.0.1:8099"),
        ("http://localhost:8099", "http://localhost:8099"),
        ("http://[::1]:8099", "http://[::1]:8099"),
    ],
)
def test_base_url_normalised(host, expected):
    assert normalize_base_url(host) == expected


@pytest.mark.parametrize("host", ["http://api.telzino.com", "http://10.0.0.5:8080", "http://127.example.com"])
def test_plain_http_refused_for_non_loopback_hosts(host):
    with pytest.raises(TelzinoValidationError, match="^host: plain http"):
        normalize_base_url(host)


def test_base_url_with_version_prefix_refused():
    with pytest.raises(TelzinoValidationError, match="without /v1"):
        normalize_base_url("https://api.telzino.com/v1")


def test_port_field_is_appended():
    assert normalize_base_url("http://127.0.0.1", 8099) == "http://127.0.0.1:8099"


def test_static_token_settings_and_defaults():
    settings = ConnectionSettings.from_connection(make_conn(host="api.telzino.com", password="s3cret-token"))
    assert settings.auth_mode == "token"
    assert (settings.connect_timeout, settings.read_timeout, settings.max_retries) == (10.0, 30.0, 5)
    assert "s3cret-token" not in repr(settings)


def test_oauth_settings_from_prefixed_and_plain_extras():
    plain = make_conn(extra={"client_id": "cid", "client_secret": "sec-XYZ", "read_timeout": "12"})
    prefixed = make_conn(extra={"extra__telzino__client_id": "cid", "extra__telzino__client_secret": "sec"})
    for conn in (plain, prefixed):
        settings = ConnectionSettings.from_connection(conn)
        assert settings.auth_mode == "oauth"
        assert settings.token_url == "https://api.telzino.com/oauth/token"
        assert "sec-XYZ" not in repr(settings)
    assert ConnectionSettings.from_connection(plain).read_timeout == 12.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "password"),
        ({"password": "tok", "extra": {"client_id": "c", "client_secret": "s"}}, "password"),
        ({"extra": {"client_id": "c"}}, "client_secret"),
        ({"extra": {"client_secret": "s"}}, "client_id"),
        ({"password": "tok", "extra": {"read_timeout": "soon"}}, "read_timeout"),
        ({"password": "tok", "extra": {"connect_timeout": 0}}, "connect_timeout"),
        ({"password": "tok", "extra": {"max_retries": -1}}, "max_retries"),
        ({"password": "tok", "extra": {"max_retries": 2.5}}, "max_retries"),
        ({"password": "tok", "extra": {"max_retries": "2.5"}}, "max_retries"),
        ({"password": "tok", "extra": {"read_timeout": "nan"}}, "read_timeout"),
        ({"password": "tok", "extra": {"connect_timeout": "inf"}}, "connect_timeout"),
        ({"password": "tok", "extra": {"max_retry_wait": "Infinity"}}, "max_retry_wait"),
        ({"password": "tok", "extra": {"read_timeout": True}}, "read_timeout"),
        ({"password": "tok", "extra": {"connect_timeout": 10**400}}, "connect_timeout"),
    ],
)
def test_bad_connection_settings_name_the_field(kwargs, field):
    with pytest.raises(TelzinoValidationError) as err:
        ConnectionSettings.from_connection(make_conn(**kwargs))
    assert err.value.field == field


def retries_of(value: object) -> int:
    conn = make_conn(password="tok", extra={"max_retries": value})
    return ConnectionSettings.from_connection(conn).max_retries


@pytest.mark.parametrize(
    "value",
    [True, False, 101, 10**400, 9007199254740993, "1" + "0" * 400, 1e300, "1e400", "true", [3]],
    ids=lambda value: repr(value)[:20],
)
def test_max_retries_is_a_whole_number_up_to_100(value):
    # True is no count, and a huge count would retry a failing request for ever (or overflow).
    with pytest.raises(TelzinoValidationError, match="is not a whole number from 0 to 100") as err:
        retries_of(value)
    assert err.value.field == "max_retries" and len(str(err.value)) < 200


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0), (7, 7), (100, 100), (7.0, 7), ("7", 7), (" 12 ", 12)]
)
def test_max_retries_keeps_the_whole_number_it_is_given(value, expected):
    number = retries_of(value)
    assert number == expected and type(number) is int


@pytest.mark.parametrize(
    "host",
    ["http://127.0.0.1:99999", "http://127.0.0.1:abc", "http://127.0.0.1:0", "https://api.telzino.com:-1"],
)
def test_impossible_port_in_host_refused(host):
    with pytest.raises(TelzinoValidationError, match="^host: .*port"):
        normalize_base_url(host)


@pytest.mark.parametrize("port", [0, 65536, 99999, -5])
def test_impossible_port_field_refused(port):
    with pytest.raises(TelzinoValidationError, match="^port: "):
        ConnectionSettings.from_connection(make_conn(host="http://127.0.0.1", port=port, password="t"))


def test_token_surrounding_whitespace_is_stripped():
    settings = ConnectionSettings.from_connection(make_conn(password=" t0ken-value\n"))
    assert settings.access_token == "t0ken-value"
    oauth = ConnectionSettings.from_connection(
        make_conn(extra={"client_id": "id\n", "client_secret": " s3cret\r\n"})
    )
    assert (oauth.client_id, oauth.client_secret) == ("id", "s3cret")


@pytest.mark.parametrize("token", ["t0ken\nvalue", "t0ken value", "t0ken\u00e9", "t0ken\x00"])
def test_token_that_cannot_go_into_a_header_is_refused(token):
    with pytest.raises(TelzinoValidationError, match="^password: ") as err:
        ConnectionSettings.from_connection(make_conn(password=token))
    assert token not in str(err.value)
