"""CRM connectors (issue 16): reading leads from HubSpot, Salesforce and Segment, and writing
the product's outcomes back (`tools.crm.writer`)."""
