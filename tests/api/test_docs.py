"""`/docs` works offline (CONTRACT 6): Swagger UI and ReDoc load only assets the app serves
(fastapi-offline's package files), HITL_DOCS_PUBLIC still decides who may read them, and the
schema describes every event type's required properties with a valid example each, agreeing with
the validation that `POST /v1/events` applies."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, get_args

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from agent.models import EventType
from service.schemas import _PROPERTY_RULES, EventIn
from tests.conftest import TOKEN, make_settings

ASSETS = Path(__import__("fastapi_offline").__file__).parent / "static"


class _Links(HTMLParser):
    """Every URL a page loads or links to (src, href), plus the ReDoc spec-url."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]


def _urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


@pytest.fixture
def anonymous(rt: Any) -> Iterator[Any]:
    """A client with no bearer header, as a browser."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(rt)) as client:
        yield client


@pytest.mark.parametrize(("page", "assets"), [
    ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
    ("/redoc", {"redoc.standalone.js", "favicon.png"}),
])
def test_the_docs_pages_load_only_the_apps_own_assets(anonymous: Any, page: str,
                                                      assets: set[str]) -> None:
    html = anonymous.get(page)
    assert html.status_code == 200
    urls = _urls(html.text)
    assert {u.rsplit("/", 1)[-1] for u in urls if u.startswith("/docs/assets/")} == assets
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for remote in ("http://", "https://", "cdn.", "fonts.googleapis", "unpkg"):
        assert remote not in html.text, remote
    for name in assets:  # the package's files, byte for byte, served by the app
        served = anonymous.get(f"/docs/assets/{name}")
        assert served.status_code == 200
        assert served.content == (ASSETS / name).read_bytes()
    assert anonymous.get("/openapi.json").status_code == 200


def test_swagger_ui_is_version_5_and_asks_no_online_validator(anonymous: Any) -> None:
    bundle = (ASSETS / "swagger-ui-bundle.js").read_text(errors="replace")
    assert "swagger-ui" in bundle and len(bundle) > 500_000
    assert '"validatorUrl": null' in anonymous.get("/docs").text


def test_hidden_docs_need_the_bearer_token_assets_included(tmp_path: Path,
                                                           content_library: Any) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime

    hidden = build_runtime(make_settings(tmp_path, docs_public=False),
                           library_override=content_library)
    try:
        with TestClient(create_app(hidden)) as client:
            for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui.css"):
                assert client.get(path).status_code == 401, path
                assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}
                                  ).status_code == 200, path
    finally:
        hidden.close()


# -- the event schema ---------------------------------------------------------------------------

@pytest.fixture
def openapi(anonymous: Any) -> dict[str, Any]:
    return anonymous.get("/openapi.json").json()  # type: ignore[no-any-return]


def _validator(openapi: dict[str, Any], component: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{component}",
                                 "components": openapi["components"]})


def test_every_event_type_has_a_schema_naming_its_required_properties(
        openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    union = schemas["EventIn"]
    mapping = union["discriminator"]["mapping"]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(mapping) == set(get_args(EventType))
    assert [one["$ref"] for one in union["oneOf"]] == list(mapping.values())
    for kind, ref in mapping.items():
        schema = schemas[ref.rsplit("/", 1)[-1]]
        assert schema["properties"]["type"]["enum"] == [kind]
        props = schema["properties"]["properties"]
        required = [n for n, (needed, _) in _PROPERTY_RULES.get(kind, {}).items() if needed]
        assert props.get("required", []) == required, kind
        assert set(props["properties"]) == set(_PROPERTY_RULES.get(kind, {})), kind
        assert ("properties" in schema["required"]) == bool(required), kind
        assert schema["description"] and schema["examples"]
    assert schemas["ProductUsageEvent"]["properties"]["properties"]["properties"] == {
        "metric": {"type": "string"}, "change_pct": {"type": "number"}}
    form = schemas["FormSubmitEvent"]["properties"]["properties"]["properties"]["form"]
    assert form["enum"] == ["demo", "contact", "pricing", "trial", "content", "newsletter"]
    # A batch's events are the same union.
    assert schemas["EventBatchIn"]["properties"]["events"]["items"] == {
        "$ref": "#/components/schemas/EventIn"}


def test_each_example_is_valid_for_the_schema_and_the_api(openapi: dict[str, Any],
                                                         client: Any) -> None:
    body = openapi["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    examples = body["examples"]
    assert set(examples) == {*get_args(EventType), "batch"}
    union = _validator(openapi, "EventIn")
    for kind in get_args(EventType):
        event = examples[kind]["value"]
        assert event["type"] == kind
        union.validate(event)
        EventIn.model_validate(event)
        accepted = client.post("/v1/events", json=event)
        assert accepted.status_code == 202, (kind, accepted.text)
    _validator(openapi, "EventBatchIn").validate(examples["batch"]["value"])


def test_the_schema_refuses_what_the_api_refuses(openapi: dict[str, Any], client: Any) -> None:
    """Drop any required property from an example: the schema and the API both refuse it, and
    the API's error names the property."""
    examples = openapi["paths"]["/v1/events"]["post"]["requestBody"]["content"][
        "application/json"]["examples"]
    union = _validator(openapi, "EventIn")
    checked = 0
    for kind, rules in _PROPERTY_RULES.items():
        for name, (needed, _) in rules.items():
            if not needed:
                continue
            event = copy.deepcopy(examples[kind]["value"])
            del event["properties"][name]
            assert not union.is_valid(event), (kind, name)
            with pytest.raises(ValidationError):
                EventIn.model_validate(event)
            refused = client.post("/v1/events", json=event)
            assert refused.status_code == 422
            assert f"properties.{name} is required for a {kind} event" in refused.text
            checked += 1
    assert checked >= 10
    wrong_form = copy.deepcopy(examples["form_submit"]["value"])
    wrong_form["properties"]["form"] = "quote"
    assert not union.is_valid(wrong_form)
    assert client.post("/v1/events", json=wrong_form).status_code == 422
