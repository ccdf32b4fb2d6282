"""Shared fixtures: a runtime on a fresh SQLite file (or real PostgreSQL), a frozen clock, a real
SMTP sink, the API client. Nothing here fakes what can be run for real on this machine."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config.clock import FrozenClock
from config.settings import DEFAULTS_DIR, Settings, load_settings

# Helper modules that assert (shared stories, checks): pytest explains their failing asserts as
# it does in test modules, when they are registered before they are first imported.
pytest.register_assert_rewrite(
    "tests.flow", "tests.fake_slack", "tests.slack_oracle", "tests.agent.fakes",
    "tests.evals.html_checks", "tests.evals.kpi_seed", "tests.service.audit_log",
    "tests.service.erasure.erasure_helpers", "tests.drills.replay_drill",
    "tests.api.crm_hooks", "tests.api.identity_fixtures", "tests.support.chat")

from tests.fake_slack import FakeSlack, SlackSide  # noqa: E402 (after the registration)

TOKEN = "test-token"

# Wednesday 10:00 in New York: inside the default policy's business hours. Only for tests that
# inject FrozenClock(T0): a real server (`hitl serve`, `hitl worker`, a runtime on the system
# clock) reads the real time, against which T0 ages out of the hand-raise window; use recent().
T0 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def recent(**ago: float) -> datetime:
    """Now on the real clock, minus `ago` (timedelta keywords: `recent(minutes=5)`): the base
    time for events sent to a server that runs on the system clock."""
    return datetime.now(UTC) - timedelta(**ago)


def assert_fresh(events: list[dict[str, Any]], *, within: timedelta = timedelta(hours=1)
                 ) -> None:
    """Fail at once, naming the event, when an event's newest time is far from the real clock:
    a server on the system clock would treat a T0-dated hand-raise as old and draft no card
    (the drill would otherwise time out waiting, or pass with nothing to check)."""
    now = datetime.now(UTC)
    newest = max(events, key=lambda e: datetime.fromisoformat(e["occurred_at"]))
    at = datetime.fromisoformat(newest["occurred_at"])
    assert abs(now - at) <= within, (
        f"event {newest['event_id']} is dated {at.isoformat()}, {now - at} from the real clock "
        f"of the server under test: build its times with tests.conftest.recent()")


# FastAPI classifies each endpoint and dependency callable (generator? coroutine?) in three
# module-level lru_caches of 4,096 entries, keyed by the callable. An endpoint defined inside
# `create_app` (ours: /healthz, /readyz, /metrics; fastapi-offline's docs pages) is a closure
# over its app, so those caches kept every test's app, and through it the test's runtime, alive
# for the rest of the process: ~6,500 objects a test, a heap that grew fivefold over a folder,
# and full garbage collections that took 0.9 s each by the end. A server builds one app; only
# a process that builds hundreds needs this. tests/api/test_app_released.py holds it.
_FASTAPI_CALLABLE_CACHES = ("_is_gen_callable_cached", "_is_async_gen_callable_cached",
                            "_is_coroutine_callable_cached")


def release_finished_apps() -> None:
    """Drop FastAPI's cached classifications, so a finished test's app can be collected."""
    import fastapi.dependencies.models as models

    for name in _FASTAPI_CALLABLE_CACHES:
        getattr(models, name).cache_clear()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    release_finished_apps()


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection imported lives as long as the process: frozen, the garbage collector's
    full passes no longer walk it after every few tests (as `hitl serve`'s worker does after
    startup; README, "Performance choices"). tests/api: 7.5 s of full collections -> 4.6 s."""
    import gc

    gc.collect()
    gc.freeze()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        database_url=f"sqlite:///{tmp_path / 'hitl.db'}", chroma_path=tmp_path / "chroma",
        chroma_url=None, api_token=TOKEN, openai_api_key=None, openai_base_url=None,
        embeddings="local", slack_bot_token=None, slack_signing_secret=None,
        slack_app_token=None, smtp_url=None, worker_threads=4,
    )
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def smtp_sink() -> Iterator[Any]:
    from tools.smtp_sink import SmtpSink

    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def content_library(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shipped sample library, indexed once into an embedded Chroma for the session."""
    from tools.content_library import ContentLibrary

    return _sample_index(ContentLibrary, tmp_path_factory.mktemp("chroma"), "content")


def _sample_index(index: type[Any], chroma: Path, folder: str) -> Any:
    """`index` (ContentLibrary or KnowledgeBase) over an embedded Chroma under `chroma`, with
    the shipped sample folder `config/defaults/<folder>` indexed."""
    from tools.embeddings import build_embedding_function
    from tools.markdown_index import open_chroma

    settings = make_settings(chroma)
    opened = index(open_chroma(settings), build_embedding_function(settings))
    opened.index_folder(DEFAULTS_DIR / folder)
    return opened


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite by default; parametrize it indirectly with "postgres" for a fresh PostgreSQL
    database (skipped where none runs; CI runs it)."""
    if getattr(request, "param", "sqlite") == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'hitl.db'}"


@pytest.fixture
def settings(tmp_path: Path, smtp_sink: Any, database_url: str) -> Settings:
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest migration, made once per test process: a test's store
    starts as a copy of it. Replaying every migration cost each test ~80 ms of CPU, a quarter
    of the suite; the migrations themselves are tested from an empty database
    (tests/store/test_migrations_match_models.py, tests/api/test_readiness.py)."""
    from store.db import Database

    path = tmp_path_factory.mktemp("migrated") / "hitl.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.truncate_wal()  # everything in the file itself: the copy needs no -wal beside it
    db.dispose()
    return path


def start_migrated(database_url: str, template: Path) -> None:
    """Give a SQLite URL whose file does not exist yet a copy of the migrated `template`
    (`migrated_sqlite`); any other database is left to the runtime's own upgrade."""
    if not database_url.startswith("sqlite:///"):
        return
    target = Path(database_url.removeprefix("sqlite:///"))
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, target)


@pytest.fixture
def rt(settings: Settings, clock: FrozenClock, content_library: Any,
       migrated_sqlite: Path) -> Iterator[Any]:
    from hitl.wiring import build_runtime

    start_migrated(settings.database_url, migrated_sqlite)
    runtime = build_runtime(settings, clock=clock, library_override=content_library)
    runtime.db.upgrade()  # finds the copy current (as a restarted server finds its database)
    yield runtime
    runtime.close()


@pytest.fixture
def worker(rt: Any) -> Iterator[Any]:
    from service.worker import Worker

    w = Worker(rt, threads=4)
    yield w
    w.stop()


@pytest.fixture
def running_worker(worker: Any) -> Any:
    """The test's worker, also running in the background, as in `hitl serve`: what Slack
    decides is recorded by the worker after Slack got its answer (slack_app.decisions)."""
    worker.poll_seconds = 0.05
    worker.start()
    return worker


@pytest.fixture
def client(rt: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


# -- Slack and support (the folders that run with Slack on override `settings` with these) ------

SUPPORT_CHANNEL = "C0SUPPORT1"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """The Slack Web API on loopback (tests/fake_slack.py)."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def slack_settings(tmp_path: Path, smtp_sink: Any, database_url: str,
                   fake_slack: FakeSlack) -> Settings:
    """The conftest settings with the Slack surface on, pointed at the fake Web API, support
    handoffs posted to SUPPORT_CHANNEL."""
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         slack_bot_token="xoxb-test", slack_signing_secret="secret",
                         slack_api_url=fake_slack.url + "/",
                         slack_support_channel=SUPPORT_CHANNEL)


@pytest.fixture
def slack(client: Any, running_worker: Any) -> SlackSide:
    """Slack's side of the app (signed requests), with the worker running as in `hitl serve`."""
    return SlackSide(client)


@pytest.fixture(scope="session")
def support_kb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shipped sample knowledge base in an embedded Chroma, local embeddings."""
    from tools.knowledge_base import KnowledgeBase

    return _sample_index(KnowledgeBase, tmp_path_factory.mktemp("kb"), "kb")


@pytest.fixture
def hitl_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`hitl_group(sub_app, name)`: a `hitl` with that command group registered the way
    hitl/cli.py registers it, run from tmp_path with Chroma there and offline embeddings."""
    import typer

    monkeypatch.chdir(tmp_path)
    for name, value in {"HITL_CHROMA_PATH": str(tmp_path / "chroma"), "HITL_EMBEDDINGS": "local",
                        "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}.items():
        monkeypatch.setenv(name, value)

    def group(sub_app: typer.Typer, name: str) -> typer.Typer:
        cli = typer.Typer()
        cli.add_typer(sub_app, name=name)

        @cli.command()
        def version() -> None:  # a second command keeps `hitl` a group, as it is
            pass

        return cli

    return group


@pytest.fixture
def support_rt(rt: Any, support_kb: Any) -> Any:
    """The runtime answering from the shared knowledge base (indexed once per session)."""
    from service.support import install_support

    install_support(rt, knowledge_base=support_kb)
    return rt


@pytest.fixture
def support_client(support_rt: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(support_rt), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


# -- PostgreSQL -------------------------------------------------------------------------------

def _postgres_admin_url() -> str | None:
    url = os.environ.get("HITL_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("HITL_REQUIRE_POSTGRES"):
            pytest.fail("HITL_REQUIRE_POSTGRES is set but HITL_TEST_POSTGRES_URL is not")
        pytest.skip("PostgreSQL tests need HITL_TEST_POSTGRES_URL (set by .ci/run)")
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    admin = _postgres_admin_url()
    assert admin is not None
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(admin)
    plain = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"hitl_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("HITL_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield base.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- event builders ---------------------------------------------------------------------------

LEAD_ADA = {"email": "ada@acme.io", "first_name": "Ada", "last_name": "Park", "company": "Acme",
            "title": "VP Operations", "domain": "acme.io", "country": "US", "employees": 850,
            "industry": "Software", "timezone": "America/Chicago"}


def event(event_id: str, type_: str, *, at: datetime, lead: dict[str, Any] | None = None,
          **properties: Any) -> dict[str, Any]:
    return {"event_id": event_id, "type": type_, "occurred_at": at.isoformat(),
            "lead": lead or LEAD_ADA, "properties": properties}


def hand_raise(prefix: str = "e", lead: dict[str, Any] | None = None,
               at: datetime = T0) -> list[dict[str, Any]]:
    """A mid-market VP who read pricing and then asked for a demo."""
    return [
        event(f"{prefix}-1", "page_view", at=at - timedelta(days=2), lead=lead,
              url="https://vendor.example/pricing"),
        event(f"{prefix}-2", "email_click", at=at - timedelta(days=1), lead=lead,
              url="https://vendor.example/webinar", campaign="Q4 webinar", source="linkedin"),
        event(f"{prefix}-3", "form_submit", at=at - timedelta(minutes=5), lead=lead,
              form="demo", campaign="Q4 webinar", source="linkedin"),
    ]
