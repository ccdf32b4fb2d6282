"""A customer who writes from an address the store does not know, at a company domain it does
know (a colleague's lead), is linked to that company's account: the handoff rules, the
warm-transfer package and the bot's words know the company. A free-mail domain never links."""

from __future__ import annotations

from typing import Any

from service.support_accounts import company_account, sayable_company
from tests.conftest import T0, event
from tests.support.chat import handoff, say

NORTHWIND = {"email": "tom.berg@northwind-logistics.com", "first_name": "Tom",
             "last_name": "Berg", "company": "Northwind Logistics",
             "domain": "northwind-logistics.com", "country": "US", "employees": 6500,
             "industry": "Logistics", "title": "VP Operations"}
# Nothing in the help center answers this: the bot's confidence is low on the first asking.
UNANSWERABLE = "Our warehouse scanners stall when they push batches of 10,000 rows through your API."


def ingest(client: Any, *leads: dict[str, Any]) -> None:
    events = [event(f"known-{i}", "page_view", at=T0, lead=lead,
                    url="https://vendor.example/docs") for i, lead in enumerate(leads)]
    response = client.post("/v1/events", json={"events": events})
    assert response.status_code == 202, response.text


def test_a_colleagues_company_makes_the_customer_a_known_high_value_account(
        support_client: Any) -> None:
    ingest(support_client, NORTHWIND)
    reply = say(support_client, UNANSWERABLE, conversation="nw-1",
                email="Priya.Shah@Northwind-Logistics.com", name="Priya Shah")
    # 6,500 employees at the account: the first sign of struggle goes to a person.
    assert reply["status"] == "waiting_for_human" and reply["handoff_id"]
    assert "your Northwind Logistics account" in reply["reply"]
    package = handoff(support_client, reply["handoff_id"])
    assert package["trigger"]["reason"] == "high_value_account"
    customer = package["customer"]
    assert customer["email"] == "priya.shah@northwind-logistics.com"
    assert customer["lead_id"] is None  # Priya herself is not a lead
    assert customer["company"] == "Northwind Logistics"
    assert customer["employees"] == 6500 and customer["segment"] == "enterprise"
    assert customer["value"] == "high"
    assert any("Northwind Logistics" in r for r in customer["value_reasons"])
    account = customer["account"]
    assert account["domain"] == "northwind-logistics.com"
    assert account["company"] == "Northwind Logistics" and account["known_contacts"] == 1
    assert account["linked_by"] == "domain"
    assert "Northwind Logistics" in package["summary"]


def test_a_free_mail_address_never_links_to_a_company(support_client: Any) -> None:
    ingest(support_client, {**NORTHWIND, "email": "bea.boss@gmail.com", "domain": "gmail.com",
                            "company": "Megacorp", "employees": 9000})
    reply = say(support_client, UNANSWERABLE, conversation="gm-1",
                email="sam.rivers@gmail.com", name="Sam Rivers")
    assert reply["status"] == "bot" and reply["handoff_id"] is None  # one miss is not enough
    reply = say(support_client, "Can I talk to a real person please?", conversation="gm-1")
    package = handoff(support_client, reply["handoff_id"])
    assert package["trigger"]["reason"] == "asked_for_human"
    assert "high_value_account" not in package["trigger"]["also"]
    customer = package["customer"]
    assert customer["account"] is None and customer["company"] is None
    assert customer["value"] != "high" and customer["employees"] is None
    assert "Megacorp" not in reply["reply"]


def test_the_account_is_read_from_every_lead_at_the_domain(support_rt: Any,
                                                           support_client: Any) -> None:
    ingest(support_client, NORTHWIND,
           {**NORTHWIND, "email": "ann@northwind-logistics.com", "employees": 7000,
            "domain": None},  # the address alone puts Ann at the company
           {**NORTHWIND, "email": "x@northwind-logistics.com.evil.example", "domain": None,
            "company": "Impostor", "employees": 99999})
    with support_rt.db.session() as session:
        account = company_account(support_rt, session, "new.hire@NORTHWIND-logistics.com")
        assert account is not None
        assert account.known_contacts == 2 and account.employees == 7000
        assert account.company == "Northwind Logistics"
        own = company_account(support_rt, session, "tom.berg@northwind-logistics.com")
        assert own is not None and own.linked_by == "email"
        assert company_account(support_rt, session, "someone@unknown-co.example") is None
        for personal in ("a@gmail.com", "a@GMX.de", "a@orange.fr", "a@mailinator.com"):
            assert company_account(support_rt, session, personal) is None
        assert company_account(support_rt, session, "not-an-address") is None


def test_only_a_plain_company_name_is_said_to_the_customer() -> None:
    assert sayable_company("Northwind Logistics") == "Northwind Logistics"
    assert sayable_company("Müller & Söhne GmbH") == "Müller & Söhne GmbH"
    for hostile in ("Click https://evil.example", "evil.example", "<b>Acme</b>",
                    "x" * 120, "", None, "mail me@evil.example"):
        assert sayable_company(hostile) is None
