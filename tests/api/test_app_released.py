"""A test's app and runtime are collected once the test is done (tests/conftest.py's
`release_finished_apps`): a process that builds hundreds of apps, as the suite does, must not
keep them all. FastAPI's callable caches held every app whose endpoints are closures over it."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from tests.conftest import release_finished_apps


def test_a_finished_app_and_its_runtime_are_collected(rt: Any) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(rt)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
    released = weakref.ref(app)
    del app, client
    release_finished_apps()
    gc.collect()
    assert released() is None, [type(r).__name__ for r in gc.get_referrers(released())]
