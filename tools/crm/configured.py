"""Which CRMs the product writes back to: the ones whose API settings are present."""

from __future__ import annotations

from config.settings import Settings
from tools.crm.mapping import CrmMapping
from tools.crm.writer import CrmWriter


def writers_from_settings(settings: Settings, mapping: CrmMapping | None = None
                          ) -> list[CrmWriter]:
    """HubSpot when `HUBSPOT_ACCESS_TOKEN` is set; Salesforce when `SALESFORCE_INSTANCE_URL` and
    `SALESFORCE_ACCESS_TOKEN` are; both when both are; none (write-back off) otherwise. The
    mapping file names the key property / external id field the admin created (defaults
    otherwise)."""
    found: list[CrmWriter] = []
    if settings.hubspot_access_token:
        from tools.crm.hubspot_writer import IDEMPOTENCY_PROPERTY, HubSpotWriter

        found.append(HubSpotWriter(
            settings.hubspot_api_url, settings.hubspot_access_token,
            idempotency_property=mapping.hubspot.writeback_key_property if mapping
            else IDEMPOTENCY_PROPERTY))
    if settings.salesforce_instance_url and settings.salesforce_access_token:
        from tools.crm.salesforce_writer import API_VERSION, EXTERNAL_ID_FIELD, SalesforceWriter

        found.append(SalesforceWriter(
            settings.salesforce_instance_url, settings.salesforce_access_token,
            api_version=mapping.salesforce.api_version if mapping else API_VERSION,
            external_id_field=mapping.salesforce.writeback_external_id_field if mapping
            else EXTERNAL_ID_FIELD))
    return found
