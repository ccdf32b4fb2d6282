"""Which CRMs the product writes back to: the ones whose API settings are present."""

from __future__ import annotations

from config.settings import Settings
from tools.crm.writer import CrmWriter


def writers_from_settings(settings: Settings) -> list[CrmWriter]:
    """HubSpot when `HUBSPOT_ACCESS_TOKEN` is set; Salesforce when `SALESFORCE_INSTANCE_URL` and
    `SALESFORCE_ACCESS_TOKEN` are; both when both are; none (write-back off) otherwise."""
    found: list[CrmWriter] = []
    if settings.hubspot_access_token:
        from tools.crm.hubspot_writer import HubSpotWriter

        found.append(HubSpotWriter(settings.hubspot_api_url, settings.hubspot_access_token))
    if settings.salesforce_instance_url and settings.salesforce_access_token:
        from tools.crm.salesforce_writer import SalesforceWriter

        found.append(SalesforceWriter(settings.salesforce_instance_url,
                                      settings.salesforce_access_token))
    return found
