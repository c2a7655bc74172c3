"""VelerianClient: configuration, URL rules and every route, over real HTTP against the emulator.

Errors, retries, idempotency and secrets: test_velerian_client_faults.py; the sync client:
test_velerian_client_sync.py; the platform mapping: test_velerian_platform.py.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from govflow.core.errors import ConfigurationError, GovflowError, TransportError
from govflow.core.platforms.velerian import (
    DEFAULT_BASE_URL,
    EvidenceExport,
    InvokeResult,
    Page,
    UsageSummary,
    VelerianApproval,
    VelerianClient,
    VelerianRunTimeoutError,
)
from govflow.core.transport import RetryPolicy
from govflow.testing.faults import respond
from govflow.testing.velerian import VelerianEmulator

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)
INVOKE = "/api/v2/abps/*/invoke"


@pytest.fixture
def emu() -> VelerianEmulator:
    return VelerianEmulator()


@pytest.fixture
def base_url(emu: VelerianEmulator) -> Iterator[str]:
    with emu.serve() as url:
        yield url


@pytest.fixture
async def client(emu: VelerianEmulator, base_url: str) -> AsyncIterator[VelerianClient]:
    async with VelerianClient(emu.api_key, base_url=base_url, retry=FAST, timeout=10.0) as velerian:
        yield velerian


@pytest.fixture(autouse=True)
def _no_velerian_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "VELERIAN_API_KEY",
        "VELERIAN_BASE_URL",
        "GOVFLOW_VELERIAN_API_KEY",
        "GOVFLOW_VELERIAN_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


# --- configuration -----------------------------------------------------------------------------


async def test_a_missing_key_says_how_to_provide_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        VelerianClient()
    message = str(caught.value)
    assert "api_key=" in message
    assert "VELERIAN_API_KEY" in message
    assert "GOVFLOW_VELERIAN_API_KEY" in message


@pytest.mark.parametrize("key", ["", "   "])
async def test_an_empty_key_is_refused(key: str) -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        VelerianClient(key)


async def test_defaults_to_the_app_host() -> None:
    async with VelerianClient("vk_live_example_key") as velerian:
        assert velerian.base_url == DEFAULT_BASE_URL == "https://app.velerian.ai"


async def test_configuration_order_explicit_then_govflow_env_then_sdk_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VELERIAN_BASE_URL", "https://sdk.example")
    async with VelerianClient("vk_live_example_key") as velerian:
        assert velerian.base_url == "https://sdk.example"
    monkeypatch.setenv("GOVFLOW_VELERIAN_BASE_URL", "https://govflow.example/")
    async with VelerianClient("vk_live_example_key") as velerian:
        assert velerian.base_url == "https://govflow.example"
    async with VelerianClient("vk_live_example_key", base_url="https://explicit.example") as velerian:
        assert velerian.base_url == "https://explicit.example"
    monkeypatch.setenv("GOVFLOW_VELERIAN_BASE_URL", "   ")  # blank counts as unset
    async with VelerianClient("vk_live_example_key") as velerian:
        assert velerian.base_url == "https://sdk.example"


async def test_the_key_comes_from_the_environment(
    emu: VelerianEmulator, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VELERIAN_API_KEY", "vk_live_not_the_right_one")
    monkeypatch.setenv("GOVFLOW_VELERIAN_API_KEY", emu.api_key)  # govflow's own variable wins
    monkeypatch.setenv("VELERIAN_BASE_URL", base_url)
    async with VelerianClient(retry=FAST) as velerian:
        summary = await velerian.usage_summary()
    assert summary.tenant_id == "tenant-1"


@pytest.mark.parametrize(
    "url",
    [
        "https://app.velerian.ai/api/v2",
        "https://app.velerian.ai/api/v2/",
        "https://app.velerian.ai/API/V2",
        "http://host/prefix/api/v2",
    ],
)
async def test_a_base_url_ending_in_api_v2_is_a_clear_error(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        VelerianClient("vk_live_example_key", base_url=url)
    message = str(caught.value)
    assert "ends in /api/v2" in message
    assert "origin" in message


async def test_the_api_v2_rule_applies_to_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VELERIAN_BASE_URL", "https://app.velerian.ai/api/v2")
    with pytest.raises(ConfigurationError, match="VELERIAN_BASE_URL"):
        VelerianClient("vk_live_example_key")


@pytest.mark.parametrize("url", ["", "app.velerian.ai", "ftp://app.velerian.ai", "https://h/?x=1"])
async def test_malformed_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        VelerianClient("vk_live_example_key", base_url=url)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("abps/a1/invoke", "https://v.example/api/v2/abps/a1/invoke"),
        ("/api/agenticx/networks/s/invoke", "https://v.example/api/agenticx/networks/s/invoke"),
        ("/api/v2/pack-runs/r1", "https://v.example/api/v2/pack-runs/r1"),
        ("", "https://v.example/api/v2/"),
        ("../x", "https://v.example/api/x"),
        ("a:b", "https://v.example/api/v2/a:b"),  # the SDK returns "a:b" unchanged
        ("https://s3.example/k?X-Amz-Signature=s", "https://s3.example/k?X-Amz-Signature=s"),
    ],
)
async def test_url_resolution(path: str, expected: str) -> None:
    async with VelerianClient("vk_live_example_key", base_url="https://v.example/") as velerian:
        assert velerian.resolve_url(path) == expected


async def test_a_path_prefix_in_the_base_url_is_kept() -> None:
    async with VelerianClient("vk_live_example_key", base_url="http://host:8080/velerian") as velerian:
        assert velerian.resolve_url("audit-log") == "http://host:8080/velerian/api/v2/audit-log"
        assert velerian.resolve_url("/api/agenticx/x") == "http://host:8080/velerian/api/agenticx/x"


async def test_repr_and_config_errors_never_show_the_key() -> None:
    key = "vk_live_super_secret_value_123"
    async with VelerianClient(key) as velerian:
        assert key not in repr(velerian)
    with pytest.raises(ConfigurationError) as caught:
        VelerianClient(key, base_url="https://x/api/v2")
    assert key not in str(caught.value)


# --- R1 invoke ---------------------------------------------------------------------------------


async def test_invoke_allowed_and_what_is_on_the_wire(emu: VelerianEmulator, client: VelerianClient) -> None:
    payload = {"prompt": "Summarize the attached filing.", "n": 3}
    result = await client.invoke_abp(emu.abps["allow"], payload)

    assert isinstance(result, InvokeResult)
    assert (result.outcome, result.is_allowed, result.requires_human, result.withheld) == (
        "allowed",
        True,
        False,
        False,
    )
    assert result.output["echo"] == payload
    assert result.constraint_count == 2 and len(result.aggregated_conditions) == 2
    assert result.evidence_pack_id and result.evidence_pack_chain_hash and result.evidence_pack_s3_key
    assert result.raw["invocation_id"] == result.invocation_id

    (sent,) = emu.requests_to("POST", INVOKE)
    assert sent.path == f"/api/v2/abps/{emu.abps['allow']}/invoke"
    assert sent.json() == {"payload": payload}
    assert sent.header("authorization") == f"Bearer {emu.api_key}"
    assert sent.header("accept") == "application/json"
    assert sent.header("content-type") == "application/json"
    assert (sent.header("user-agent") or "").startswith("govflow/")
    assert uuid.UUID(sent.header("idempotency-key") or "")  # a fresh UUID per call


@pytest.mark.parametrize(
    ("behaviour", "outcome", "is_allowed", "requires_human", "withheld"),
    [
        ("block", "blocked", False, False, True),
        ("approval", "requires_approval", False, True, True),
        ("error", "error", False, False, False),
    ],
)
async def test_invoke_other_outcomes(
    emu: VelerianEmulator,
    client: VelerianClient,
    behaviour: str,
    outcome: str,
    is_allowed: bool,
    requires_human: bool,
    withheld: bool,
) -> None:
    result = await client.invoke_abp(emu.abps[behaviour], {"x": 1})
    assert (result.outcome, result.is_allowed, result.requires_human, result.withheld) == (
        outcome,
        is_allowed,
        requires_human,
        withheld,
    )
    assert (result.approval_id is not None) is requires_human
    if behaviour == "error":
        assert result.model_error and result.evidence_pack_id is None


async def test_each_invoke_gets_its_own_key_unless_one_is_given(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    await client.invoke_abp(emu.abps["allow"], {})
    await client.invoke_abp(emu.abps["allow"], {})
    await client.invoke_abp(emu.abps["allow"], {}, idempotency_key="my-key-1")
    keys = [r.header("idempotency-key") for r in emu.requests_to("POST", INVOKE)]
    assert keys[0] != keys[1] and keys[2] == "my-key-1"


async def test_ids_are_encoded_as_one_path_segment(emu: VelerianEmulator, client: VelerianClient) -> None:
    with pytest.raises(GovflowError):
        await client.invoke_abp("../../usage/summary", {})
    (sent,) = emu.requests_to("POST")
    assert sent.path.startswith("/api/v2/abps/")  # not /api/usage/summary
    with pytest.raises(ValueError):
        await client.invoke_abp("", {})


# --- R2, R3, R10 evidence ----------------------------------------------------------------------


async def test_invocation_evidence_presigned_download_never_carries_the_key(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    abp = emu.abps["allow"]
    result = await client.invoke_abp(abp, {"q": 1})
    export = await client.invocation_evidence(abp, result.invocation_id)
    assert isinstance(export, EvidenceExport)
    assert (export.artifact_kind, export.format, export.delivery) == ("invocation_evidence", "json", "presigned")
    assert export.expires is not None and export.expires > datetime.now(timezone.utc)
    assert not export.download_url.startswith(client.base_url)

    content = json.loads(await client.download_export(export))
    assert content["evidence_pack"]["invocation_id"] == result.invocation_id
    assert content["evidence_pack"]["chain_hash"] == result.evidence_pack_chain_hash

    (fetched,) = emu.storage_requests
    assert fetched.header("authorization") is None
    assert emu.api_key not in json.dumps(fetched.to_dict())


async def test_even_a_raw_get_of_a_presigned_url_does_not_send_the_key(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    result = await client.invoke_abp(emu.abps["allow"], {})
    export = await client.invocation_evidence(emu.abps["allow"], result.invocation_id)
    response = await client.get(export.download_url)  # the SDK would attach the Bearer header
    assert response.status_code == 200
    assert all(r.header("authorization") is None for r in emu.storage_requests)


async def test_zip_format(emu: VelerianEmulator, client: VelerianClient) -> None:
    result = await client.invoke_abp(emu.abps["allow"], {})
    export = await client.invocation_evidence(emu.abps["allow"], result.invocation_id, format="zip")
    assert export.format == "zip"
    archive = zipfile.ZipFile(io.BytesIO(await client.download_export(export)))
    assert "manifest.json" in archive.namelist()
    assert emu.requests_to("GET", "/api/v2/abps/*/evidence")[0].params == {"format": "zip"}


async def test_stream_delivery_goes_through_the_api_with_the_key(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    abp = emu.abps["stream"]
    result = await client.invoke_abp(abp, {})
    export = await client.invocation_evidence(abp, result.invocation_id)
    assert export.delivery == "stream"
    assert export.download_url.startswith("/api/v2/exports/")
    content = json.loads(await client.download_export(export))
    assert content["evidence_pack"]["invocation_id"] == result.invocation_id
    (fetched,) = emu.requests_to("GET", "/api/v2/exports/*/content")
    assert fetched.header("authorization") == f"Bearer {emu.api_key}"
    assert emu.storage_requests == []


async def test_an_unknown_delivery_is_fetched_without_the_key(
    emu: VelerianEmulator, client: VelerianClient, base_url: str
) -> None:
    export = EvidenceExport.from_body(
        {
            "export_id": "e1",
            "artifact_kind": "invocation_evidence",
            "format": "json",
            "s3_key": "k",
            "download_url": f"{base_url}/api/v2/usage/summary",  # even on the API's own host
            "expires_at": "2099-01-01T00:00:00Z",
            "delivery": "edge-cache",
        }
    )
    with pytest.raises(GovflowError) as caught:
        await client.download_export(export)
    assert caught.value.status == 401  # the API refused: no key was sent
    assert emu.requests[-1].header("authorization") is None


async def test_evidence_package_since_as_datetime_or_text(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    abp = emu.abps["allow"]
    before = datetime.now(timezone.utc) - timedelta(minutes=1)
    for _ in range(2):
        await client.invoke_abp(abp, {})
    export = await client.evidence_package(abp, before)
    assert export.artifact_kind == "evidence_package"
    package = json.loads(await client.download_export(export))
    assert len(package["evidence_packs"]) == 2

    sent = emu.requests_to("GET", "/api/v2/abps/*/evidence-package")[0].params["since"]
    assert sent.endswith("Z") and "+00:00" not in sent

    future = await client.evidence_package(abp, "2099-01-01T00:00:00Z", format="json")
    assert json.loads(await client.download_export(future))["evidence_packs"] == []


async def test_naive_datetimes_are_utc(emu: VelerianEmulator, client: VelerianClient) -> None:
    await client.evidence_package(emu.abps["allow"], datetime(2025, 5, 1, 12, 30))
    assert emu.requests_to("GET")[-1].params["since"] == "2025-05-01T12:30:00Z"


# --- R4 usage summary --------------------------------------------------------------------------


async def test_usage_summary(emu: VelerianEmulator, client: VelerianClient) -> None:
    await client.invoke_abp(emu.abps["allow"], {})
    await client.invoke_abp(emu.abps["block"], {})
    summary = await client.usage_summary(evidence_limit=1)
    assert isinstance(summary, UsageSummary)
    assert summary.tenant_id == "tenant-1" and summary.as_of
    assert summary.governed_runs["total"] == 2
    assert isinstance(summary.evidence_packs, list) and len(summary.evidence_packs) == 1
    assert summary.evidence_total == 2
    assert summary.adoption is not None
    assert emu.requests_to("GET", "/api/v2/usage/summary")[0].params == {"evidence_limit": "1"}


async def test_usage_summary_sends_no_query_by_default(emu: VelerianEmulator, client: VelerianClient) -> None:
    await client.usage_summary()
    assert emu.requests_to("GET", "/api/v2/usage/summary")[0].query == ""


async def test_iter_usage_evidence_walks_a_capped_server_to_the_end() -> None:
    emu = VelerianEmulator(page_cap=20)
    with emu.serve() as url:
        async with VelerianClient(emu.api_key, base_url=url, retry=FAST) as velerian:
            for _ in range(45):
                await velerian.invoke_abp(emu.abps["allow"], {})
            rows = [row async for row in velerian.iter_usage_evidence(page_size=100)]
    assert len(rows) == 45
    assert len({row["id"] for row in rows}) == 45
    pages = emu.requests_to("GET", "/api/v2/usage/summary")
    assert [p.params["evidence_offset"] for p in pages] == ["0", "20", "40"]
    assert all(p.params["evidence_limit"] == "100" for p in pages)


# --- R5 audit log ------------------------------------------------------------------------------


async def test_list_audit_log_with_filters(emu: VelerianEmulator, client: VelerianClient) -> None:
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    for _ in range(3):
        await client.invoke_abp(emu.abps["allow"], {})
    await client.usage_summary()

    page = await client.list_audit_log(action="abp.invoke", since=since, limit=2)
    assert isinstance(page, Page)
    assert [row["action"] for row in page.items] == ["abp.invoke", "abp.invoke"]
    assert (page.limit, page.offset, page.total) == (2, 0, 3)
    assert page.next_offset == 2 and page.has_more
    assert page.raw["total"] == 3
    params = emu.requests_to("GET", "/api/v2/audit-log")[0].params
    assert params["action"] == "abp.invoke" and params["limit"] == "2" and params["offset"] == "0"
    assert "resource_id" not in params  # None filters are dropped

    rest = await client.list_audit_log(action="abp.invoke", offset=page.next_offset)
    assert len(rest.items) == 1 and not rest.has_more


async def test_iter_audit_log_yields_every_row_past_the_server_cap() -> None:
    emu = VelerianEmulator(page_cap=20)
    with emu.serve() as url:
        async with VelerianClient(emu.api_key, base_url=url, retry=FAST) as velerian:
            for _ in range(30):
                await velerian.invoke_abp(emu.abps["approval"], {})  # 2 audit rows each
            rows = [row async for row in velerian.iter_audit_log(page_size=100)]
            invokes = [row async for row in velerian.iter_audit_log(action="abp.invoke")]
    assert len(rows) == len(emu.audit) == 60
    assert len({row["id"] for row in rows}) == 60
    assert len(invokes) == 30


# --- R6, R7 network runs -----------------------------------------------------------------------


async def test_invoke_network_without_waiting(emu: VelerianEmulator, client: VelerianClient) -> None:
    accepted = await client.invoke_network(
        emu.networks["succeed"], "Assess loan 118", metadata={"loan_id": "L-118"}, attachment_ids=["att_01"]
    )
    assert accepted["status"] == "queued" and accepted["run_id"] and accepted["run_url"]
    (sent,) = emu.requests_to("POST", "/api/agenticx/networks/*/invoke")
    assert sent.params == {"async": "true"}
    assert sent.json() == {"prompt_text": "Assess loan 118", "metadata": {"loan_id": "L-118"}, "attachment_ids": ["att_01"]}
    assert sent.header("idempotency-key")

    run = await client.await_run(accepted["run_id"], poll_interval=0.01)
    assert run["status"] == "succeeded"


async def test_empty_metadata_is_sent_and_empty_attachments_are_not(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    await client.invoke_network(emu.networks["succeed"], "x", metadata={}, attachment_ids=[])
    assert emu.requests_to("POST")[0].json() == {"prompt_text": "x", "metadata": {}}


async def test_invoke_network_and_wait(emu: VelerianEmulator, client: VelerianClient) -> None:
    run = await client.invoke_network(emu.networks["succeed"], "Assess loan 118", wait=True, poll_interval=0.01)
    assert run["status"] == "succeeded"
    assert run["slug"] == emu.networks["succeed"]
    assert run["prompt_id"] == run["run_id"] == run["id"]
    assert run["run_url"].endswith(run["run_id"])
    assert run["model_id_used"] == run["model_id"]
    assert run["output_text"]
    statuses = [r for r in emu.requests_to("GET", "/api/v2/pack-runs/*")]
    assert len(statuses) == 3  # queued, running, succeeded


@pytest.mark.parametrize("behaviour", ["blocked", "failed"])
async def test_a_blocked_or_failed_run_is_returned_not_raised(
    emu: VelerianEmulator, client: VelerianClient, behaviour: str
) -> None:
    run = await client.invoke_network(emu.networks[behaviour], "x", wait=True, poll_interval=0.01)
    assert run["status"] == behaviour
    assert run["governance_pass"] is False


async def test_run_timeout_carries_the_run_id() -> None:
    emu = VelerianEmulator(run_steps=1000)
    with emu.serve() as url:
        async with VelerianClient(emu.api_key, base_url=url, retry=FAST) as velerian:
            with pytest.raises(VelerianRunTimeoutError) as caught:
                await velerian.invoke_network(
                    emu.networks["succeed"], "x", wait=True, poll_interval=0.01, run_timeout=0.05
                )
            error = caught.value
            assert isinstance(error, GovflowError)
            assert error.run_status == "queued" and error.waited_s >= 0.05
            assert error.run_id in str(error) and "not cancelled" in str(error)
            polls = len(emu.requests_to("GET", "/api/v2/pack-runs/*"))
            assert polls >= 2

            # run_timeout=0: exactly one GET, as in the SDK
            with pytest.raises(VelerianRunTimeoutError) as again:
                await velerian.await_run(error.run_id, run_timeout=0)
            assert again.value.run_id == error.run_id
            assert len(emu.requests_to("GET", "/api/v2/pack-runs/*")) == polls + 1


async def test_run_polling_arguments_are_checked(client: VelerianClient) -> None:
    with pytest.raises(ConfigurationError):
        await client.await_run("r1", poll_interval=0)
    with pytest.raises(ConfigurationError):
        await client.await_run("r1", run_timeout=-1)


async def test_an_integer_run_id_is_accepted(emu: VelerianEmulator, client: VelerianClient) -> None:
    emu.inject("POST", "/api/agenticx/networks/*/invoke", respond(202, {"run_id": 42, "status": "queued"}))
    accepted = await client.invoke_network(emu.networks["succeed"], "x")
    assert accepted["run_id"] == 42  # unchanged, like the SDK


async def test_an_accepted_body_without_run_id_is_a_transport_error(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    emu.inject("POST", "/api/agenticx/networks/*/invoke", respond(202, {"status": "queued"}))
    with pytest.raises(TransportError, match="run_id"):
        await client.invoke_network(emu.networks["succeed"], "x", wait=True)


# --- R8 approvals ------------------------------------------------------------------------------


async def test_list_and_get_approvals(emu: VelerianEmulator, client: VelerianClient) -> None:
    first = await client.invoke_abp(emu.abps["approval"], {"n": 1})
    second = await client.invoke_abp(emu.abps["approval"], {"n": 2})
    assert first.approval_id and second.approval_id
    emu.decide_approval(first.approval_id, "approved", by="u-7", reason="looks fine")

    pending = await client.list_approvals(status="pending")
    assert [a.id for a in pending.items] == [second.approval_id]
    assert isinstance(pending.items[0], VelerianApproval) and pending.total == 1

    every = [a.id async for a in client.iter_approvals()]
    assert every == [second.approval_id, first.approval_id]  # newest first

    approval = await client.get_approval(first.approval_id)
    assert (approval.status, approval.decided_by, approval.reason) == ("approved", "u-7", "looks fine")
    assert approval.invocation_id == first.invocation_id and approval.abp_id == emu.abps["approval"]
    assert approval.decided_at and approval.raw["status"] == "approved"
    assert emu.requests_to("GET", "/api/v2/approvals")[0].params["status"] == "pending"


async def test_iter_paginated_walks_a_capped_server_to_the_end() -> None:
    emu = VelerianEmulator(page_cap=20)
    with emu.serve() as url:
        async with VelerianClient(emu.api_key, base_url=url, retry=FAST) as velerian:
            for _ in range(45):
                await velerian.invoke_abp(emu.abps["approval"], {})
            rows = [row async for row in velerian.iter_paginated("approvals", page_size=100)]
            filtered = [
                row async for row in velerian.iter_paginated("approvals", params={"status": "approved"})
            ]
    assert len(rows) == 45 and len({r["id"] for r in rows}) == 45
    assert filtered == []
    offsets = [r.params["offset"] for r in emu.requests_to("GET", "/api/v2/approvals")][:3]
    assert offsets == ["0", "20", "40"]


async def test_iter_paginated_with_custom_names(emu: VelerianEmulator, client: VelerianClient) -> None:
    for _ in range(3):
        await client.invoke_abp(emu.abps["allow"], {})
    rows = [
        row
        async for row in client.iter_paginated(
            "usage/summary",
            page_size=2,
            limit_param="evidence_limit",
            offset_param="evidence_offset",
            items_key="evidence_packs",
        )
    ]
    assert len(rows) == 3


# --- R9 and the escape hatch -------------------------------------------------------------------


async def test_raw_get_post_delete(emu: VelerianEmulator, client: VelerianClient, base_url: str) -> None:
    await client.invoke_network(emu.networks["succeed"], "x")
    runs = (await client.get("pack-runs", params={"status": "queued", "unused": None})).json()
    assert len(runs["items"]) == 1
    assert emu.requests_to("GET", "/api/v2/pack-runs")[0].params == {"status": "queued"}

    absolute = await client.get(f"{base_url}/api/v2/usage/summary")
    assert absolute.json()["tenant_id"] == "tenant-1"
    origin_relative = await client.get("/api/v2/usage/summary")
    assert origin_relative.status_code == 200

    posted = await client.post(f"abps/{emu.abps['allow']}/invoke", json={"payload": {"a": 1}})
    assert posted.json()["is_allowed"] is True
    bare = await client.request("POST", f"abps/{emu.abps['allow']}/invoke", json={"payload": {}})
    assert bare.status_code == 200

    with pytest.raises(GovflowError) as caught:
        await client.delete("pack-runs")
    assert caught.value.status == 405


async def test_post_without_json_sends_no_body(emu: VelerianEmulator, client: VelerianClient) -> None:
    with pytest.raises(GovflowError):
        await client.post(f"abps/{emu.abps['allow']}/invoke")
    assert emu.requests_to("POST")[0].body == b""


# --- tolerance ---------------------------------------------------------------------------------


def _invoke_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "invocation_id": "inv-1",
        "outcome": "allowed",
        "is_allowed": True,
        "requires_human": False,
        "withheld": False,
    }
    body.update(overrides)
    return body


async def test_unknown_fields_and_outcomes_are_tolerated(emu: VelerianEmulator, client: VelerianClient) -> None:
    body = _invoke_body(
        outcome="quarantined_pending_review",
        is_allowed=False,
        withheld=True,
        risk_score=0.93,
        lineage={"parents": ["x"]},
        aggregated_conditions=None,
        constraint_count=None,
    )
    emu.inject("POST", INVOKE, respond(200, body))
    result = await client.invoke_abp(emu.abps["allow"], {})
    assert result.outcome == "quarantined_pending_review"
    assert result.aggregated_conditions == [] and result.constraint_count == 0
    assert result.model_extra == {"risk_score": 0.93, "lineage": {"parents": ["x"]}}
    assert result.raw == body


async def test_numbers_where_ids_are_strings(emu: VelerianEmulator, client: VelerianClient) -> None:
    emu.inject("POST", INVOKE, respond(200, _invoke_body(invocation_id=123, evidence_pack_id=7)))
    result = await client.invoke_abp(emu.abps["allow"], {})
    assert (result.invocation_id, result.evidence_pack_id) == ("123", "7")


async def test_a_body_missing_required_fields_is_a_typed_error(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    emu.inject("POST", INVOKE, respond(200, {"outcome": "allowed"}))
    with pytest.raises(TransportError) as caught:
        await client.invoke_abp(emu.abps["allow"], {})
    assert caught.value.code == "unexpected_response"
    assert "invocation_id" in str(caught.value)
    emu.inject("GET", "/api/v2/usage/summary", respond(200, ["not", "an", "object"]))
    with pytest.raises(TransportError):
        await client.usage_summary()


async def test_usage_summary_with_a_dashboard_dict(emu: VelerianEmulator, client: VelerianClient) -> None:
    emu.inject(
        "GET",
        "/api/v2/usage/summary",
        respond(200, {"tenant_id": "t", "as_of": "now", "evidence_packs": {"count": 3}, "new_block": 1}),
    )
    summary = await client.usage_summary()
    assert summary.evidence_packs == {"count": 3}
    assert summary.governed_runs == {} and summary.model_extra == {"new_block": 1}


async def test_a_page_of_the_wrong_shape_is_empty_not_a_crash(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    emu.inject("GET", "/api/v2/audit-log", respond(200, [1, 2, 3]), respond(200, {"limit": "x"}))
    assert (await client.list_audit_log()).items == []
    page = await client.list_audit_log()
    assert (page.items, page.limit, page.total) == ([], 0, None)


async def test_unknown_approval_fields_and_statuses(emu: VelerianEmulator, client: VelerianClient) -> None:
    emu.inject(
        "GET",
        "/api/v2/approvals/*",
        respond(200, {"id": "a1", "status": "escalated", "escalated_to": "u-9", "decided_at": None}),
    )
    approval = await client.get_approval("a1")
    assert approval.status == "escalated" and approval.model_extra == {"escalated_to": "u-9"}
