"""Issue 9: one API object in omnichannel, each app adding its router; crm's operations keep
their URLs and the OpenAPI document its operation ids."""

from django.urls import resolve

from omnichannel.api.core import API_ROUTERS, api, api_routers_install


def test_the_api_object_is_omnichannels_and_crm_adds_a_router():
    import crm.api.api as crm_api

    api_routers_install()  # a second install adds nothing
    api_routers_install()

    assert ("", "crm.api.api.router") in API_ROUTERS
    assert ("", "campaigns.api.router") in API_ROUTERS
    assert not hasattr(crm_api, "api")
    assert [router for _prefix, router in api._routers].count(crm_api.router) == 1
    assert resolve("/api/v1/members").namespace == "api-v1"


def test_the_openapi_document_keeps_its_paths_and_operation_ids():
    document = api.get_openapi_schema(path_prefix="/api/v1/")

    operations = {
        path: sorted(op["operationId"] for op in methods.values())
        for path, methods in document["paths"].items()
    }
    assert operations == {
        "/api/v1/members": ["crm_api_api_members_upsert"],
        "/api/v1/orders": ["crm_api_api_orders_record"],
        "/api/v1/returns": ["crm_api_api_returns_record"],
        "/api/v1/events": ["crm_api_api_events_record"],
        "/api/v1/push/subscriptions": [
            "campaigns_api_push_push_subscription_delete",
            "campaigns_api_push_push_subscription_register",
        ],
        "/api/v1/segments": ["crm_api_api_segments_list"],
        "/api/v1/campaigns": ["campaigns_api_campaigns_create"],
        "/api/v1/campaigns/{campaign_id}": ["campaigns_api_campaigns_get"],
        "/api/v1/campaigns/{campaign_id}/launch": ["campaigns_api_campaigns_launch"],
        "/api/v1/push/tokens": [
            "campaigns_api_push_push_token_delete",
            "campaigns_api_push_push_token_register",
        ],
        "/api/v1/members/{member}/points": ["loyalty_api_member_points"],
        "/api/v1/points/quote": ["loyalty_api_points_quote_post"],
        "/api/v1/points/holds": ["loyalty_api_points_hold_create"],
        "/api/v1/points/holds/{hold_id}/commit": ["loyalty_api_points_hold_commit"],
        "/api/v1/points/holds/{hold_id}/release": ["loyalty_api_points_hold_release"],
        "/api/v1/coupons/{code}/redeem": ["loyalty_api_coupon_redeem"],
    }
    assert document["info"]["title"] == "Omnichannel ingest API"
    assert document["info"]["description"].startswith("The ingest API, /api/v1/")
