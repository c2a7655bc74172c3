"""The official ``velerian_sdk`` 0.1.2, driven against the emulator over real HTTP.

If the SDK's documented usage works here, the emulator speaks the contract the SDK was written
for; the SDK's known defects (specs/velerian.md section 13) must be observable here too, so that
tests of govflow's own client can show it avoids them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import velerian_sdk
import velerian_sdk.client
from velerian_sdk import (
    EvidenceExport,
    InvokeResult,
    Page,
    UsageSummary,
    VelerianAPIError,
    VelerianAuthError,
    VelerianClient,
    VelerianConflictError,
    VelerianError,
    VelerianForbiddenError,
    VelerianNotFoundError,
    VelerianRateLimitError,
    VelerianRunTimeoutError,
    VelerianServerError,
    VelerianValidationError,
)

from govflow.testing.faults import drop, rate_limited, server_error
from govflow.testing.velerian import VelerianEmulator, after_accept, gateway_error

INVOKE = "/api/v2/abps/*/invoke"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[VelerianEmulator, str]]:
    emulator = VelerianEmulator()
    with emulator.serve() as url:
        yield emulator, url


@pytest.fixture
def emu(served: tuple[VelerianEmulator, str]) -> VelerianEmulator:
    served[0].reset()
    return served[0]


@pytest.fixture
def base_url(served: tuple[VelerianEmulator, str]) -> str:
    return served[1]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The SDK's sleeps (retry backoff, run polling), recorded instead of slept."""
    recorded: list[float] = []
    fake_time = SimpleNamespace(sleep=recorded.append, monotonic=time.monotonic)
    monkeypatch.setattr(velerian_sdk.client, "time", fake_time)
    return recorded


@pytest.fixture
def sdk(emu: VelerianEmulator, base_url: str, sleeps: list[float]) -> Iterator[VelerianClient]:
    with VelerianClient(api_key=emu.api_key, base_url=base_url, timeout=5) as client:
        yield client


def count(emu: VelerianEmulator, method: str, path: str) -> int:
    return len(emu.requests_to(method, path))


# --- the README's documented usage ------------------------------------------------------------


def test_quickstart(emu: VelerianEmulator, sdk: VelerianClient) -> None:
    abp = emu.abps["allow"]
    result = sdk.invoke_abp(abp, payload={"prompt": "Summarize the attached filing."})
    assert isinstance(result, InvokeResult)
    assert (result.outcome, result.is_allowed, result.requires_human) == ("allowed", True, False)
    assert result.output is not None and result.output["echo"] == {
        "prompt": "Summarize the attached filing."
    }
    assert result.evidence_pack_id
    export = sdk.invocation_evidence(abp, result.invocation_id)
    assert isinstance(export, EvidenceExport)
    assert (export.artifact_kind, export.delivery) == ("invocation_evidence", "presigned")
    # fetched the way section 4 advises: without the SDK client, so without the key
    document = httpx.get(export.download_url).json()
    assert document["evidence_pack"]["chain_hash"] == result.evidence_pack_chain_hash
    assert export.raw["expires_at"] == export.expires_at


def test_quickstart_branches_on_requires_human(emu: VelerianEmulator, sdk: VelerianClient) -> None:
    held = sdk.invoke_abp(emu.abps["approval"], payload={"amount": 2_000_000})
    assert held.requires_human and held.withheld and held.approval_id
    pending = list(sdk.iter_paginated("approvals", params={"status": "pending"}))
    assert [a["id"] for a in pending] == [held.approval_id]
    emu.decide_approval(held.approval_id, "approved")
    assert sdk.get(f"approvals/{held.approval_id}").json()["status"] == "approved"

    blocked = sdk.invoke_abp(emu.abps["block"], payload={})
    assert (blocked.outcome, blocked.is_allowed, blocked.withheld) == ("blocked", False, True)
    failed = sdk.invoke_abp(emu.abps["error"], payload={})
    assert failed.model_error and failed.evidence_pack_id is None  # the quickstart skips R2


def test_stream_delivery_through_the_sdk(emu: VelerianEmulator, sdk: VelerianClient) -> None:
    abp = emu.abps["stream"]
    result = sdk.invoke_abp(abp, payload={})
    export = sdk.invocation_evidence(abp, result.invocation_id, format="zip")
    assert (export.delivery, export.format) == ("stream", "zip")
    content = sdk.get(export.download_url)  # origin-relative: the same key is what it needs
    assert content.headers["content-type"] == "application/zip"
    package = sdk.evidence_package(abp, since="2000-01-01T00:00:00Z")
    assert package.artifact_kind == "evidence_package"
    assert len(sdk.get(package.download_url).json()["evidence_packs"]) == 1


def test_usage_summary_and_its_evidence_paging(emu: VelerianEmulator, sdk: VelerianClient) -> None:
    for _ in range(250):
        sdk.invoke_abp(emu.abps["allow"], payload={})
    summary = sdk.usage_summary()
    assert isinstance(summary, UsageSummary)
    assert summary.tenant_id == "tenant-1" and summary.governed_runs["total"] == 250
    # typed as a dict by the SDK, a list on the wire: the spec's [emu] choice works for both uses
    evidence_packs: Any = summary.evidence_packs
    assert isinstance(evidence_packs, list) and len(evidence_packs) == 50  # default page
    emu.clear_requests()
    packs = list(
        sdk.iter_paginated(
            "usage/summary",
            limit_param="evidence_limit",
            offset_param="evidence_offset",
            items_key="evidence_packs",
        )
    )
    assert len(packs) == len({p["id"] for p in packs}) == 250
    assert [r.params for r in emu.requests] == [
        {"evidence_limit": "100", "evidence_offset": str(offset)} for offset in (0, 100, 200)
    ]


def test_audit_log_page_and_iteration(emu: VelerianEmulator, sdk: VelerianClient) -> None:
    for _ in range(120):
        sdk.invoke_abp(emu.abps["allow"], payload={})
    page = sdk.list_audit_log(action="abp.invoke", limit=50)
    assert isinstance(page, Page)
    assert (len(page), page.total, page.offset + page.limit) == (50, 120, 50)
    assert all(entry["action"] == "abp.invoke" for entry in page)
    emu.clear_requests()
    entries = list(sdk.iter_audit_log(action="abp.invoke"))
    assert len(entries) == len({e["id"] for e in entries}) == 120
    assert [e["created_at"] for e in entries] == sorted(
        (e["created_at"] for e in entries), reverse=True
    )
    assert [r.params["offset"] for r in emu.requests] == ["0", "100"]


def test_an_exact_multiple_costs_one_empty_page(emu: VelerianEmulator, sdk: VelerianClient) -> None:
    for _ in range(200):
        sdk.invoke_abp(emu.abps["approval"], payload={})
    emu.clear_requests()
    assert len(list(sdk.iter_paginated("approvals", page_size=100))) == 200
    assert [r.params["offset"] for r in emu.requests] == ["0", "100", "200"]  # the last is empty


def test_invoke_network_waits_until_succeeded(
    emu: VelerianEmulator, sdk: VelerianClient, sleeps: list[float]
) -> None:
    run = sdk.invoke_network(
        "loan-review", prompt_text="Assess loan 118", metadata={"loan_id": "L-118"},
        attachment_ids=["att_01"],
    )  # fmt: skip
    assert run["status"] == "succeeded" and run["governance_pass"] is True
    assert run["slug"] == "loan-review" and run["prompt_id"] == run["run_id"]
    assert run["model_id_used"] == "emu-network-model" and run["run_url"].endswith(run["run_id"])
    [accepted] = emu.requests_to("POST", "/api/agenticx/networks/*")
    assert accepted.params == {"async": "true"}
    assert accepted.json() == {
        "prompt_text": "Assess loan 118", "metadata": {"loan_id": "L-118"},
        "attachment_ids": ["att_01"],
    }  # fmt: skip
    assert count(emu, "GET", "/api/v2/pack-runs/*") == 3  # queued, running, succeeded
    assert sleeps == [3.0, 3.0]  # the default poll interval, between the three polls
    assert sdk.get(run["evidence_download_url"]).json()["artifact_kind"] == "run_evidence"


def test_a_blocked_run_is_returned_not_raised(emu: VelerianEmulator, sdk: VelerianClient) -> None:
    run = sdk.invoke_network("restricted-review", prompt_text="x")
    assert run["status"] == "blocked" and run["governance_reasons"]
    accepted = sdk.invoke_network("loan-review", prompt_text="x", wait=False)
    assert accepted["status"] == "queued"
    with pytest.raises(VelerianRunTimeoutError) as timed_out:
        sdk.await_run(accepted["run_id"], run_timeout=0)
    assert (timed_out.value.run_id, timed_out.value.status) == (accepted["run_id"], "queued")
    assert sdk.await_run(accepted["run_id"])["status"] == "succeeded"


# --- errors -----------------------------------------------------------------------------------


def test_each_error_class(emu: VelerianEmulator, base_url: str, sdk: VelerianClient) -> None:
    with (
        VelerianClient(api_key="vk_live_wrong", base_url=base_url) as stranger,
        pytest.raises(VelerianAuthError) as auth,
    ):
        stranger.usage_summary()
    assert (auth.value.status_code, auth.value.detail) == (401, "Invalid or expired API key")

    reader = emu.add_key(["runs:read"])
    with (
        VelerianClient(api_key=reader, base_url=base_url) as limited,
        pytest.raises(VelerianForbiddenError) as forbidden,
    ):
        limited.invoke_abp(emu.abps["allow"], payload={})
    assert forbidden.value.detail == "API key lacks required scope: runs:write"

    with pytest.raises(VelerianNotFoundError) as missing:
        sdk.invoke_abp("no-such-abp", payload={})
    assert missing.value.detail == "ABP not found"
    with pytest.raises(VelerianConflictError) as conflict:
        sdk.invoke_abp(emu.abps["draft"], payload={})
    assert "is not deployed (status: draft)" in str(conflict.value)
    with pytest.raises(VelerianValidationError) as invalid:
        sdk.get(f"abps/{emu.abps['allow']}/evidence-package")  # without the required since
    assert invalid.value.body["detail"][0]["loc"] == ["query", "since"]
    assert invalid.value.detail is not None and invalid.value.detail.startswith(
        "[{'type': 'missing'"
    )
    assert emu.invocations == []


def test_429_is_retried_after_retry_after_then_raised(
    emu: VelerianEmulator, sdk: VelerianClient, sleeps: list[float]
) -> None:
    emu.inject("GET", "/api/v2/usage/summary", *[rate_limited(retry_after=7)] * 4)
    with pytest.raises(VelerianRateLimitError) as limited:
        sdk.usage_summary()
    assert limited.value.retry_after == 7.0
    assert sleeps == [7.0, 7.0, 7.0]
    assert count(emu, "GET", "/api/v2/usage/summary") == 4

    emu.inject("GET", "/api/v2/usage/summary", rate_limited(retry_after=0))
    assert sdk.usage_summary().tenant_id == "tenant-1"  # recovered on the second attempt


def test_5xx_is_retried_with_backoff_then_raised(
    emu: VelerianEmulator, sdk: VelerianClient, sleeps: list[float]
) -> None:
    emu.inject("GET", "/api/v2/approvals", *[server_error(503)] * 4)
    with pytest.raises(VelerianServerError) as failed:
        sdk.get("approvals")
    assert failed.value.status_code == 503
    assert count(emu, "GET", "/api/v2/approvals") == 4  # max_retries=3: four attempts
    assert len(sleeps) == 3 and all(
        0 <= s <= cap for s, cap in zip(sleeps, (0.5, 1, 2), strict=True)
    )


def test_a_gateway_html_page_keeps_its_text_as_detail(emu: VelerianEmulator, base_url: str) -> None:
    emu.inject("GET", "/api/v2/approvals", gateway_error(502))
    with (
        VelerianClient(api_key=emu.api_key, base_url=base_url, max_retries=0) as sdk,
        pytest.raises(VelerianServerError) as failed,
    ):
        sdk.get("approvals")
    assert failed.value.body is None
    assert failed.value.detail is not None and "<h1>502 Bad Gateway</h1>" in failed.value.detail


# --- the SDK's known defects, observable against the emulator --------------------------------


def test_defect_a_502_after_accept_duplicates_the_invocation(
    emu: VelerianEmulator, sdk: VelerianClient
) -> None:
    emu.inject("POST", INVOKE, after_accept(server_error(502)))
    result = sdk.invoke_abp(emu.abps["allow"], payload={"amount": 10})
    assert len(emu.invocations) == 2  # the first was accepted; the blind retry made another
    assert result.invocation_id == emu.invocations[1]["invocation_id"]
    attempts = emu.requests_to("POST", INVOKE)
    assert [r.header("idempotency-key") for r in attempts] == [None, None]  # no key to dedupe on


def test_defect_the_key_is_sent_to_presigned_storage(
    emu: VelerianEmulator, sdk: VelerianClient
) -> None:
    abp = emu.abps["allow"]
    result = sdk.invoke_abp(abp, payload={})
    export = sdk.invocation_evidence(abp, result.invocation_id)
    with pytest.raises(VelerianAPIError) as rejected:
        sdk.get(export.download_url)  # an absolute URL still gets the Bearer header
    assert rejected.value.status_code == 400 and "InvalidArgument" in (rejected.value.detail or "")
    assert type(rejected.value) is VelerianAPIError  # 400 has no subclass
    [leak] = emu.storage_requests
    assert leak.header("authorization") == f"Bearer {emu.api_key}"


def test_defect_a_base_url_with_the_prefix_doubles_it(emu: VelerianEmulator, base_url: str) -> None:
    with (
        VelerianClient(api_key=emu.api_key, base_url=f"{base_url}/api/v2") as sdk,
        pytest.raises(VelerianNotFoundError),
    ):
        sdk.invoke_abp(emu.abps["allow"], payload={})
    assert [r.path for r in emu.requests] == [f"/api/v2/api/v2/abps/{emu.abps['allow']}/invoke"]


def test_defect_a_server_page_cap_truncates_iteration(
    emu: VelerianEmulator, sdk: VelerianClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(120):
        sdk.invoke_abp(emu.abps["allow"], payload={})
    monkeypatch.setattr(emu, "page_cap", 50)
    entries = list(sdk.iter_audit_log(action="abp.invoke"))
    assert len(entries) == 50  # a short page (50 < 100) reads as the end; 70 rows are never seen
    assert sdk.list_audit_log(action="abp.invoke", limit=100).raw["limit"] == 50


def test_defect_transport_errors_are_neither_wrapped_nor_retried(
    emu: VelerianEmulator, sdk: VelerianClient
) -> None:
    emu.inject("GET", "/api/v2/approvals", drop())
    with pytest.raises(httpx.TransportError) as raised:
        sdk.get("approvals")
    assert not isinstance(raised.value, VelerianError)
    assert count(emu, "GET", "/api/v2/approvals") == 1


def test_defect_retry_after_is_not_capped_on_the_exception(
    emu: VelerianEmulator, base_url: str, sleeps: list[float]
) -> None:
    emu.inject(
        "GET", "/api/v2/approvals", rate_limited(retry_after=120), rate_limited(retry_after=120)
    )
    with (
        VelerianClient(api_key=emu.api_key, base_url=base_url, max_retries=1) as sdk,
        pytest.raises(VelerianRateLimitError) as limited,
    ):
        sdk.get("approvals")
    assert sleeps == [60.0]  # the sleep is capped ...
    assert limited.value.retry_after == 120.0  # ... the exception's value is not


def test_every_request_carries_the_documented_headers(
    emu: VelerianEmulator, sdk: VelerianClient
) -> None:
    sdk.invoke_abp(emu.abps["allow"], payload={"x": 1})
    sdk.list_audit_log(action=None, resource_id=None)
    invoke_request, audit_request = emu.requests
    for request in (invoke_request, audit_request):
        assert request.header("authorization") == f"Bearer {emu.api_key}"
        assert request.header("accept") == "application/json"
        assert request.header("user-agent") == f"velerian-python-sdk/{velerian_sdk.__version__}"
    assert invoke_request.json() == {"payload": {"x": 1}}
    assert audit_request.params == {"limit": "50", "offset": "0"}  # None filters are dropped
