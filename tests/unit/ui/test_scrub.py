"""Secrets never leave the server: the one middleware every response of the view passes through."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.ui import scrub
from pipeline_factory.ui.app import create_app
from pipeline_factory.ui.auth import current_user

PASSWORD = "Pl4nted-pa55word"
PLANTED = {
    "MLFLOW_TRACKING_URI": f"postgresql://mlflow:{PASSWORD}-mlflow@db:5432/mlflow",
    "PIPELINE_LEDGER_URL": f"postgresql+psycopg2://ledger:{PASSWORD}-ledger@db/ledger",
    "PIPELINE_REDIS_URL": f"redis://:{PASSWORD}-redis@redis:6379/0",
    "PIPELINE_PROMOTION_LOCK_URL": f"redis://lock:{PASSWORD}-lock@redis:6379/1",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql://airflow:{PASSWORD}-airflow@db/airflow",
    "AIRFLOW__CELERY__BROKER_URL": f"redis://:{PASSWORD}-broker@redis:6379/0",
    "NEO4J_PASSWORD": f"{PASSWORD}-neo4j",
    "QDRANT_URL": f"https://qdrant.example.org:6333?api_key={PASSWORD}-qdrant",
    "QDRANT_API_KEY": f"{PASSWORD}-qdrantkey",
    "NCBI_API_KEY": f"{PASSWORD}-ncbi",
    "AIRFLOW__API_AUTH__JWT_SECRET": f"{PASSWORD}-jwt",
    "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
        {"conn_type": "http", "host": "mlflow", "extra": {"token": f"{PASSWORD}-extra", "timeout": 30}}
    ),
}


@pytest.fixture
def planted(monkeypatch):
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    scrub.SECRETS.refresh()
    yield
    scrub.SECRETS.refresh()


class User:
    def get_name(self) -> str:
        return "viewer"


@pytest.fixture
def app(planted, monkeypatch):
    """The real app with Airflow's authentication replaced by a fixed user: the scrubbing is what is tested."""
    from pipeline_factory.ui import access

    app = create_app()
    app.dependency_overrides[current_user] = User
    monkeypatch.setattr(
        access, "decide", lambda user, names: access.Access(user=user, pipelines=frozenset(names), all_pipelines=True)
    )
    return app


def leaks(text: str) -> list[str]:
    return [part for part in (PASSWORD,) if part in text]


def test_credentials_in_an_exception_text_never_reach_the_viewer(app, monkeypatch):
    """Today's bug: MLflow's exception names the tracking URI with its password."""
    from pipeline_factory.ui import overview

    def models_down(*_args, **_kwargs):
        raise ConnectionError(f"could not reach {PLANTED['MLFLOW_TRACKING_URI']} (token={PASSWORD}-t)")

    monkeypatch.setattr(overview, "models_overview", models_down)
    response = TestClient(app).get("/api/models")
    assert response.status_code == 200
    body = response.json()
    assert body["available"] is False and "postgresql://mlflow:***@db:5432/mlflow" in body["reason"]
    assert not leaks(response.text)


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_every_configured_secret_is_scrubbed_in_every_response(app, name):
    """Each configured URL or key, quoted by a route in JSON and in text, leaves the server masked."""
    value = PLANTED[name]
    inner = json.loads(value)["extra"]["token"] if value.startswith("{") else value
    router = APIRouter()

    @router.get("/api/quote")
    async def quote() -> dict:
        return {"error": f"error talking to {inner}", "nested": [{"detail": inner}]}

    @router.get("/api/quote.txt", response_class=PlainTextResponse)
    async def quote_text() -> str:
        return f"error talking to {inner}"

    app.include_router(router)
    client = TestClient(app)
    for path in ("/api/quote", "/api/quote.txt"):
        response = client.get(path)
        assert response.status_code == 200
        assert PASSWORD not in response.text, response.text
        assert scrub.MASK in response.text


def test_airflow_connections_give_their_password_and_sensitive_extras(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SOME_STORE", json.dumps({
        "conn_type": "postgres", "host": "db", "login": "u", "password": f"{PASSWORD}-conn",
        "extra": {"sslmode": "require", "api_token": f"{PASSWORD}-extra", "endpoint": f"https://x:{PASSWORD}@h"},
    }))
    found = scrub._connection_secrets(["some_store", "missing_conn"])
    assert {f"{PASSWORD}-conn", f"{PASSWORD}-extra", PASSWORD} <= found
    assert "require" not in found


def test_secret_named_fields_are_masked_and_urls_keep_their_host():
    data = {"tracking_uri": "http://u:p4ssw0rd-x@mlflow:5000", "password": "x", "extra": {"a": 1},
            "nested": [{"api_key": "abc"}], "fine": "hello"}
    assert scrub.scrub(data, ()) == {"tracking_uri": "http://u:***@mlflow:5000", "password": "***",
                                     "extra": "***", "nested": [{"api_key": "***"}], "fine": "hello"}


def test_a_route_added_later_is_scrubbed_and_read_only_without_doing_anything(app):
    router = APIRouter()

    @router.get("/api/model-plots")
    async def plots() -> dict:
        return {"plot": f"s3://bucket/plot.png?X-Amz-Signature={PASSWORD}", "uri": PLANTED["PIPELINE_LEDGER_URL"]}

    @router.get("/api/search", response_class=PlainTextResponse)
    async def search() -> str:
        raise HTTPException(status_code=500, detail=f"neo4j said: bad password {PASSWORD}-neo4j")

    @router.post("/api/write")
    async def write() -> dict:
        return {"wrote": True}

    app.include_router(router)
    client = TestClient(app)
    for path in ("/api/model-plots", "/api/search"):
        response = client.get(path)
        assert not leaks(response.text), response.text
    assert client.post("/api/write").status_code == 405


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_the_view_has_no_write_surface(app, method):
    client = TestClient(app)
    for path in ("/", "/api/ledger", "/api/reports/file?path=x", "/api/anything"):
        assert client.request(method, path).status_code == 405


def test_every_route_but_the_page_is_behind_authentication():
    """A route added to the app without the API router's authentication would fail here."""
    app = create_app()
    routes = [r for r in app.routes if getattr(r, "methods", None)]
    assert routes
    for route in routes:
        assert route.methods <= {"GET", "HEAD"}, route.path
        if route.path == "/":
            continue
        calls = _dependency_calls(route.dependant)
        assert current_user in calls, f"{route.path} does not depend on current_user"


def _dependency_calls(dependant) -> set:
    found = set()
    for dep in dependant.dependencies:
        found.add(dep.call)
        found |= _dependency_calls(dep)
    return found


@settings(max_examples=200, deadline=None)
@given(user=st.text(alphabet=st.characters(categories=["L", "N", "P", "S"], exclude_characters=":/@'\""),
                   max_size=12),
       password=st.text(alphabet=st.characters(categories=["L", "N", "P", "S"], exclude_characters="@/'\""),
                        min_size=1, max_size=30),
       scheme=st.sampled_from(["postgresql", "postgresql+psycopg2", "redis", "https", "mysql", "amqp"]),
       around=st.text(max_size=20))
def test_no_url_password_ever_survives_scrubbing(user, password, scheme, around):
    url = f"{scheme}://{user}:{password}@host.example:5432/db"
    scrubbed = scrub.scrub_text(f"{around} {url} {around}", ())
    assert f":{password}@" not in scrubbed
    assert f"{scheme}://{user}:{scrub.MASK}@host.example" in scrubbed


def test_report_files_are_scrubbed_and_head_shows_no_body(app, tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path))
    (tmp_path / "reports" / "example_hello").mkdir(parents=True)
    (tmp_path / "reports" / "example_hello" / "r.md").write_text(f"# run\npassword={PASSWORD}\n")
    client = TestClient(app)
    got = client.get("/api/reports/file", params={"path": "example_hello/r.md"})
    assert got.status_code == 200 and PASSWORD not in got.text and "password=***" in got.text
    head = client.head("/api/reports/file", params={"path": "example_hello/r.md"})
    assert head.status_code in (200, 405) and PASSWORD not in head.text


def test_a_failing_section_logs_no_secret(planted, caplog):
    from pipeline_factory.ui import overview

    def broken() -> dict:
        raise ConnectionError(f"cannot reach {PLANTED['PIPELINE_REDIS_URL']}")

    with caplog.at_level("WARNING", logger="pipeline_factory.ui.overview"):
        overview.section("breakers", broken)
    assert "redis://:***@redis" in caplog.text and PASSWORD not in caplog.text
