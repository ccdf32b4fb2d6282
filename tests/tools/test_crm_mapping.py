"""The CRM mapping file (HITL_CRM_FILE): the shipped default loads; a bad file stops start-up
with the file, the field and the reason."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from config.settings import DEFAULTS_DIR
from service.crm_events import lead_from, load_checked_mapping, path_lookup
from service.runtime import build_runtime
from tests.conftest import make_settings
from tools.crm.mapping import CrmMappingError, load_crm_mapping

DEFAULT = DEFAULTS_DIR / "crm.toml"


def _default() -> dict:
    return tomllib.loads(DEFAULT.read_text())


def _toml(value: object) -> str:
    """TOML for plain data, all inline (no TOML writer is a dependency)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "crm.toml"
    path.write_text("".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in data.items()))
    return path


def test_shipped_default_loads_with_every_vendor_and_disposition() -> None:
    mapping = load_checked_mapping(DEFAULT)
    assert mapping.version.startswith("crm-")
    assert mapping.hubspot.lead_fields.sources("email") == ["email"]
    assert "recent_conversion_event_name" in mapping.hubspot.contact_properties()
    assert mapping.salesforce.lead_fields.sources("email") == ["Email"]
    demo = mapping.segment.rule_for("demo requested")  # names compared case-insensitively
    assert demo is not None and demo.type == "form_submit" and demo.properties == {"form": "demo"}
    assert mapping.outcome("meeting_set").salesforce_status == "Closed - Converted"
    assert mapping.outcome("not_now").hubspot_lead_status == "BAD_TIMING"
    assert mapping.country_code("United States") == "US"
    assert mapping.country_code("Atlantis") is None


def test_runtime_loads_the_mapping_at_start_up(tmp_path: Path) -> None:
    rt = build_runtime(make_settings(tmp_path))
    try:
        assert rt.crm_mapping is not None and rt.crm_mapping.version == _default()["version"]
    finally:
        rt.close()


def test_runtime_refuses_a_bad_mapping_naming_file_and_field(tmp_path: Path) -> None:
    data = _default()
    data["segment"]["events"]["Demo Requested"]["type"] = "demo_request"
    path = _write(tmp_path, data)
    with pytest.raises(CrmMappingError) as err:
        build_runtime(make_settings(tmp_path, crm_file=path))
    assert str(path) in str(err.value)
    assert "segment.events.Demo Requested.type" in str(err.value)


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["hubspot"]["lead_fields"].update(fax=["fax"]), "hubspot.lead_fields.fax: Input should be 'email'"),
    (lambda d: d["salesforce"]["lead_fields"].pop("email"), "email must name at least one"),
    (lambda d: d.pop("version"), "version: Field required"),
    (lambda d: d["outcomes"].pop("not_now"), "missing: not_now"),
    (lambda d: d["outcomes"].update(won={}), "unknown outcome won"),
    (lambda d: d["outcomes"]["connected"].update(hubspot_lead_status="HOT"),
     "'HOT' is not a HubSpot lead status"),
    (lambda d: d["outcomes"]["connected"].update(hubspot_lifecyclestage="sql"),
     "'sql' is not a HubSpot lifecycle stage"),
    (lambda d: d["hubspot"]["events"][0].update(value="x"), "give value or value_contains"),
    (lambda d: d["hubspot"]["events"][0].pop("property"), "name it in `property`"),
    (lambda d: d["countries"].update(Narnia="Narnia"), "Narnia: must map to a two-letter"),
    (lambda d: d["segment"]["events"]["Demo Requested"].update(colour="red"),
     "segment.events.Demo Requested.colour: Extra inputs are not permitted"),
])
def test_bad_mapping_names_the_field(tmp_path: Path, change, expected: str) -> None:  # type: ignore[no-untyped-def]
    data = _default()
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(CrmMappingError) as err:
        load_crm_mapping(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_event_rules_must_make_valid_events(tmp_path: Path) -> None:
    data = _default()
    data["segment"]["events"]["Demo Requested"]["properties"] = {"form": "demo-request"}
    data["hubspot"]["events"][4] = {"subscription": "contact.propertyChange", "type": "page_view"}
    path = _write(tmp_path, data)
    load_crm_mapping(path)  # well-formed, but the events it would make are not ours
    with pytest.raises(CrmMappingError) as err:
        load_checked_mapping(path)
    message = str(err.value)
    assert "segment.events.'Demo Requested' (form_submit): properties.form must be one of" in message
    assert "hubspot.events[4] (page_view): properties.url is required" in message


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(CrmMappingError, match="file not found"):
        load_crm_mapping(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = \n")
    with pytest.raises(CrmMappingError, match="not valid TOML"):
        load_crm_mapping(bad)


def test_lead_fields_keep_what_is_usable() -> None:
    mapping = load_crm_mapping(DEFAULT)
    record = {"email": "Ana@Example.com", "firstname": " Ana ", "country": "Germany",
              "hs_timezone": "europe_slash_berlin", "numemployees": "1000+",
              "company": "Keystone", "industry": {"not": "text"}}
    lead = lead_from(mapping, mapping.hubspot.lead_fields, path_lookup(record))
    assert lead is not None
    assert (lead.email, lead.first_name, lead.country, lead.timezone, lead.employees,
            lead.company, lead.industry) == ("ana@example.com", "Ana", "DE", "Europe/Berlin",
                                             1000, "Keystone", None)
    odd = {"email": "bo@example.com", "country": "Atlantis", "hs_timezone": "mars/olympus",
           "numemployees": "lots"}
    lead = lead_from(mapping, mapping.hubspot.lead_fields, path_lookup(odd))
    assert lead is not None and (lead.country, lead.timezone, lead.employees) == (None,) * 3
    assert lead_from(mapping, mapping.hubspot.lead_fields, path_lookup({"email": "nope"})) is None
    assert lead_from(mapping, mapping.hubspot.lead_fields, path_lookup({"firstname": "X"})) is None
