"""The ingest API for the brand's systems (/api/v1/); the NinjaAPI lives in crm.api.api."""
