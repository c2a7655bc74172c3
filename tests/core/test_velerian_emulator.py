"""The Velerian emulator's own behaviour, over real HTTP with plain httpx."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from govflow.testing.faults import drop, malformed_json, rate_limited, server_error, slow
from govflow.testing.velerian import VelerianEmulator, after_accept, gateway_error

API = "/api/v2"
INVOKE_FIELDS = {
    "invocation_id", "outcome", "is_allowed", "requires_human", "withheld", "constraint_count",
    "aggregated_conditions", "output", "approval_id", "evidence_pack_id", "evidence_pack_s3_key",
    "evidence_pack_chain_hash", "model_error",
}  # fmt: skip
EXPORT_FIELDS = {
    "export_id", "artifact_kind", "format", "s3_key", "download_url", "expires_at", "delivery",
}  # fmt: skip


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[VelerianEmulator, str]]:
    """One emulator served for the module; each test gets it reset (servers are slow to stop)."""
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
def http(emu: VelerianEmulator, base_url: str) -> Iterator[httpx.Client]:
    """A client authenticated with the seeded all-scopes key."""
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        yield client


def invoke(http: httpx.Client, abp_id: str, payload: Any = None, **kw: Any) -> httpx.Response:
    return http.post(f"{API}/abps/{abp_id}/invoke", json={"payload": payload or {}}, **kw)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- R1: invoke -------------------------------------------------------------------------------


def test_allowed_invocation_has_output_and_an_evidence_pack(
    emu: VelerianEmulator, http: httpx.Client
) -> None:
    response = invoke(http, emu.abps["allow"], {"prompt": "Summarize"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == INVOKE_FIELDS
    assert (body["outcome"], body["is_allowed"], body["requires_human"], body["withheld"]) == (
        "allowed", True, False, False,
    )  # fmt: skip
    assert body["output"]["echo"] == {"prompt": "Summarize"}
    assert body["evidence_pack_id"] and len(body["evidence_pack_chain_hash"]) == 64
    assert body["constraint_count"] == len(body["aggregated_conditions"]) == 2
    [recorded] = emu.invocations
    assert recorded["invocation_id"] == body["invocation_id"]
    assert recorded["payload"] == {"prompt": "Summarize"}


@pytest.mark.parametrize(
    ("behaviour", "outcome", "allowed", "human", "withheld", "has_pack"),
    [
        ("block", "blocked", False, False, True, True),
        ("approval", "requires_approval", False, True, True, True),
        ("error", "error", False, False, False, False),
    ],
)
def test_outcomes_by_behaviour(
    emu: VelerianEmulator,
    http: httpx.Client,
    behaviour: str,
    outcome: str,
    allowed: bool,
    human: bool,
    withheld: bool,
    has_pack: bool,
) -> None:
    body = invoke(http, emu.abps[behaviour]).json()
    assert set(body) == INVOKE_FIELDS
    assert (body["outcome"], body["is_allowed"], body["requires_human"], body["withheld"]) == (
        outcome, allowed, human, withheld,
    )  # fmt: skip
    assert body["output"] is None
    assert (body["evidence_pack_id"] is not None) is has_pack
    assert (body["approval_id"] is not None) is human
    assert (body["model_error"] is not None) is (behaviour == "error")


def test_evidence_packs_form_a_hash_chain(emu: VelerianEmulator, http: httpx.Client) -> None:
    for _ in range(3):
        invoke(http, emu.abps["allow"])
    packs = [p["chain_hash"] for p in emu.evidence_packs]
    assert len(set(packs)) == 3


def test_an_undeployed_abp_is_a_conflict(emu: VelerianEmulator, http: httpx.Client) -> None:
    response = invoke(http, emu.abps["draft"])
    assert response.status_code == 409
    assert response.json() == {"detail": f"ABP {emu.abps['draft']} is not deployed (status: draft)"}
    assert emu.invocations == []


@pytest.mark.parametrize(
    ("content", "loc", "kind"),
    [
        (b"{}", ["body", "payload"], "missing"),
        (b'{"payload": [1]}', ["body", "payload"], "dict_type"),
        (b"{not json", ["body", 0], "json_invalid"),
        (b"", ["body"], "missing"),
    ],
)
def test_a_bad_invoke_body_is_a_fastapi_422(
    emu: VelerianEmulator, http: httpx.Client, content: bytes, loc: list[Any], kind: str
) -> None:
    response = http.post(
        f"{API}/abps/{emu.abps['allow']}/invoke",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, kind)


def test_unknown_abp_is_404(http: httpx.Client) -> None:
    response = invoke(http, "no-such-abp")
    assert (response.status_code, response.json()) == (404, {"detail": "ABP not found"})


# --- auth and scopes --------------------------------------------------------------------------


def test_missing_or_unknown_keys_are_401(emu: VelerianEmulator, base_url: str) -> None:
    path = f"{base_url}{API}/usage/summary"
    missing = httpx.get(path)
    assert (missing.status_code, missing.json()) == (401, {"detail": "Not authenticated"})
    assert missing.headers["www-authenticate"] == "Bearer"
    for header in ("Bearer vk_live_nope", "Basic abc", f"Token {emu.api_key}"):
        assert httpx.get(path, headers={"Authorization": header}).status_code == 401


def test_a_revoked_key_is_401_from_then_on(emu: VelerianEmulator, http: httpx.Client) -> None:
    key = emu.add_key(["read"])
    headers = {"Authorization": f"Bearer {key}"}
    assert http.get(f"{API}/usage/summary", headers=headers).status_code == 200
    emu.revoke_key(key)
    response = http.get(f"{API}/usage/summary", headers=headers)
    assert (response.status_code, response.json()["detail"]) == (401, "Invalid or expired API key")
    assert emu.add_key(["read"], revoked=True) != key


def test_a_key_expires(emu: VelerianEmulator, http: httpx.Client) -> None:
    key = emu.add_key(["read"], expires_in=60)
    headers = {"Authorization": f"Bearer {key}"}
    assert http.get(f"{API}/usage/summary", headers=headers).status_code == 200
    emu.advance_time(61)
    assert http.get(f"{API}/usage/summary", headers=headers).status_code == 401


def test_scopes_fine_and_coarse(emu: VelerianEmulator, http: httpx.Client) -> None:
    reader = auth(emu.add_key(["runs:read"]))
    forbidden = invoke(http, emu.abps["allow"], headers=reader)
    assert forbidden.status_code == 403
    assert forbidden.json() == {"detail": "API key lacks required scope: runs:write"}
    assert http.get(f"{API}/audit-log", headers=reader).status_code == 403
    assert http.get(f"{API}/pack-runs", headers=reader).status_code == 200

    writer = auth(emu.add_key(["write"]))
    assert invoke(http, emu.abps["allow"], headers=writer).status_code == 200
    assert http.get(f"{API}/usage/summary", headers=writer).status_code == 403  # write != read

    coarse_reader = auth(emu.add_key(["read"]))
    assert http.get(f"{API}/audit-log", headers=coarse_reader).status_code == 200
    assert http.get(f"{API}/approvals", headers=coarse_reader).status_code == 200


def test_scope_is_checked_before_existence(emu: VelerianEmulator, http: httpx.Client) -> None:
    reader = auth(emu.add_key(["runs:read"]))
    assert invoke(http, "no-such-abp", headers=reader).status_code == 403
    no_evidence = auth(emu.add_key(["runs:write"]))
    response = http.get(f"{API}/abps/nope/invocations/nope/evidence", headers=no_evidence)
    assert response.status_code == 403


def test_other_tenants_resources_are_not_visible(emu: VelerianEmulator, http: httpx.Client) -> None:
    other = auth(emu.add_key(["read", "write"], tenant="tenant-2"))
    held = invoke(http, emu.abps["approval"]).json()
    run = http.post(
        "/api/agenticx/networks/loan-review/invoke",
        params={"async": "true"},
        json={"prompt_text": "x"},
    ).json()
    stream = invoke(http, emu.abps["stream"]).json()
    export = http.get(
        f"{API}/abps/{emu.abps['stream']}/invocations/{stream['invocation_id']}/evidence"
    ).json()

    assert invoke(http, emu.abps["allow"], headers=other).status_code == 404
    assert http.get(f"{API}/approvals/{held['approval_id']}", headers=other).status_code == 404
    assert http.get(f"{API}/approvals", headers=other).json()["items"] == []
    assert http.get(f"{API}/pack-runs/{run['run_id']}", headers=other).status_code == 404
    assert http.get(export["download_url"], headers=other).status_code == 404
    assert http.get(f"{API}/audit-log", headers=other).json()["total"] > 0  # its own rows only
    rows = http.get(f"{API}/audit-log", headers=other).json()["items"]
    assert {r["tenant_id"] for r in rows} == {"tenant-2"}
    other_abp = emu.add_abp(tenant="tenant-2")
    assert invoke(http, other_abp, headers=other).status_code == 200
    assert invoke(http, other_abp).status_code == 404


# --- pagination -------------------------------------------------------------------------------


def test_the_page_cap_limits_and_is_echoed(
    emu: VelerianEmulator, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emu, "page_cap", 5)
    for _ in range(12):
        invoke(http, emu.abps["approval"])
    page = http.get(f"{API}/approvals", params={"limit": 100}).json()
    assert (len(page["items"]), page["limit"], page["offset"], page["total"]) == (5, 5, 0, 12)
    seen = []
    offset = 0
    while True:
        items = http.get(f"{API}/approvals", params={"limit": 5, "offset": offset}).json()
        if not items["items"]:
            break
        seen += [a["id"] for a in items["items"]]
        offset += 5
    assert len(seen) == len(set(seen)) == 12
    times = [a["requested_at"] for a in emu.approvals]
    assert [emu.approval(i)["requested_at"] for i in seen] == sorted(times, reverse=True)


def test_offset_past_the_end_is_an_empty_page(http: httpx.Client) -> None:
    response = http.get(f"{API}/audit-log", params={"limit": 100, "offset": 10_000})
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"limit": 0}, "greater_than_equal"),
        ({"limit": -1}, "greater_than_equal"),
        ({"offset": -1}, "greater_than_equal"),
        ({"limit": "ten"}, "int_parsing"),
    ],
)
def test_invalid_paging_is_422(http: httpx.Client, params: dict[str, Any], kind: str) -> None:
    for path in ("audit-log", "approvals", "pack-runs"):
        response = http.get(f"{API}/{path}", params=params)
        assert response.status_code == 422
        assert response.json()["detail"][0]["type"] == kind


# --- audit log --------------------------------------------------------------------------------


def test_the_audit_log_records_every_call(emu: VelerianEmulator, http: httpx.Client) -> None:
    reader = auth(emu.add_key(["runs:read"]))
    invoke(http, emu.abps["allow"])
    invoke(http, emu.abps["draft"])  # 409
    invoke(http, "nope")  # 404
    invoke(http, emu.abps["allow"], headers=reader)  # 403
    http.get(f"{API}/usage/summary")
    http.get(f"{API}/audit-log")  # not recorded: it would shift the pages being read
    httpx.get(f"{http.base_url}{API}/usage/summary")  # 401: no key, no tenant, not recorded
    rows = http.get(f"{API}/audit-log").json()["items"]
    assert [(r["action"], r["metadata"]["status_code"]) for r in rows] == [
        ("usage.read", 200),
        ("abp.invoke", 403),
        ("abp.invoke", 404),
        ("abp.invoke", 409),
        ("abp.invoke", 200),
    ]
    assert rows[0]["resource_id"] == "tenant-1"
    assert rows[1]["actor_user_id"] != rows[2]["actor_user_id"]
    assert rows[3]["metadata"]["detail"].endswith("is not deployed (status: draft)")
    assert rows[4]["metadata"]["invocation_id"] == emu.invocations[0]["invocation_id"]
    assert [r["id"] for r in reversed(rows)] == [r["id"] for r in emu.audit]


def test_audit_log_filters_and_order(emu: VelerianEmulator, http: httpx.Client) -> None:
    for name in ("allow", "block", "approval", "allow"):
        invoke(http, emu.abps[name])
    everything = http.get(f"{API}/audit-log").json()
    times = [r["created_at"] for r in everything["items"]]
    assert times == sorted(times, reverse=True) and len(set(times)) == len(times)

    invokes = http.get(f"{API}/audit-log", params={"action": "abp.invoke"}).json()
    assert invokes["total"] == 4
    allow = http.get(f"{API}/audit-log", params={"resource_id": emu.abps["allow"]}).json()
    assert allow["total"] == 2
    requested = http.get(f"{API}/audit-log", params={"action": "approval.requested"}).json()
    assert requested["items"][0]["resource_kind"] == "approval"

    middle = everything["items"][2]["created_at"]
    since = http.get(f"{API}/audit-log", params={"since": middle}).json()["items"]
    until = http.get(f"{API}/audit-log", params={"until": middle}).json()["items"]
    assert since[-1]["created_at"] == middle  # since is inclusive
    assert all(r["created_at"] < middle for r in until)  # until is exclusive
    assert len(since) + len(until) == everything["total"]
    bad = http.get(f"{API}/audit-log", params={"since": "yesterday"})
    assert (bad.status_code, bad.json()["detail"][0]["loc"]) == (422, ["query", "since"])


# --- approvals --------------------------------------------------------------------------------


def test_approval_lifecycle(emu: VelerianEmulator, http: httpx.Client) -> None:
    held = invoke(http, emu.abps["approval"]).json()
    approval_id = held["approval_id"]
    pending = http.get(f"{API}/approvals/{approval_id}").json()
    assert pending["status"] == "pending"
    assert pending["invocation_id"] == held["invocation_id"]
    assert pending["evidence_pack_id"] == held["evidence_pack_id"]
    assert (pending["decided_at"], pending["decided_by"]) == (None, None)
    listed = http.get(f"{API}/approvals", params={"status": "pending"}).json()
    assert [a["id"] for a in listed["items"]] == [approval_id]

    decided = emu.decide_approval(approval_id, "approved", by="u-7", reason="looks fine")
    assert decided["status"] == "approved"
    row = http.get(f"{API}/approvals/{approval_id}").json()
    assert (row["status"], row["decided_by"], row["reason"]) == ("approved", "u-7", "looks fine")
    assert row["decided_at"] >= row["requested_at"]
    assert http.get(f"{API}/approvals", params={"status": "pending"}).json()["items"] == []
    with pytest.raises(ValueError, match="already approved"):
        emu.decide_approval(approval_id, "denied")
    actions = [(r["action"], r["resource_id"]) for r in emu.audit]
    assert ("approval.requested", approval_id) in actions
    assert ("approval.approved", approval_id) in actions


def test_the_control_route_decides_an_approval(emu: VelerianEmulator, http: httpx.Client) -> None:
    approval_id = invoke(http, emu.abps["approval"]).json()["approval_id"]
    decide = f"{http.base_url}/_emulator/approvals/{approval_id}/decide"
    response = httpx.post(decide, json={"decision": "denied", "reason": "too risky"})  # no auth
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason"]) == ("denied", "too risky")
    again = httpx.post(decide, json={"decision": "approved"})
    assert again.status_code == 409
    assert httpx.post(decide, json={"decision": "maybe"}).status_code == 422
    assert httpx.post(f"{http.base_url}/_emulator/approvals/nope/decide",
                      json={"decision": "approved"}).status_code == 404  # fmt: skip
    denied = [r for r in emu.audit if r["action"] == "approval.denied"]
    assert denied[0]["resource_id"] == approval_id and denied[0]["actor_user_id"] == "u-reviewer"
    assert emu.requests_to(path="/_emulator/*") == []  # control routes are not recorded


def test_approvals_expire_after_their_ttl(
    emu: VelerianEmulator, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit = invoke(http, emu.abps["approval"]).json()["approval_id"]
    assert emu.decide_approval(explicit, "expired")["status"] == "expired"
    monkeypatch.setattr(emu, "approval_ttl", 300)
    approval_id = invoke(http, emu.abps["approval"]).json()["approval_id"]
    emu.advance_time(299)
    assert http.get(f"{API}/approvals/{approval_id}").json()["status"] == "pending"
    emu.advance_time(2)
    row = http.get(f"{API}/approvals/{approval_id}").json()
    assert (row["status"], row["decided_by"]) == ("expired", None)
    assert http.get(f"{API}/approvals", params={"status": "expired"}).json()["total"] == 2


# --- evidence exports -------------------------------------------------------------------------


def test_presigned_export_lives_on_another_host_that_rejects_auth_headers(
    emu: VelerianEmulator, http: httpx.Client
) -> None:
    abp = emu.abps["allow"]
    invocation = invoke(http, abp).json()
    response = http.get(f"{API}/abps/{abp}/invocations/{invocation['invocation_id']}/evidence")
    export = response.json()
    assert set(export) == EXPORT_FIELDS
    assert (export["artifact_kind"], export["format"], export["delivery"]) == (
        "invocation_evidence", "json", "presigned",
    )  # fmt: skip
    download, api = urlsplit(export["download_url"]), urlsplit(str(http.base_url))
    assert download.scheme == "http" and download.netloc != api.netloc
    assert "X-Amz-Signature=" in download.query

    leaked = httpx.get(export["download_url"], headers={"Authorization": f"Bearer {emu.api_key}"})
    assert leaked.status_code == 400 and b"InvalidArgument" in leaked.content
    assert emu.storage_requests[-1].header("authorization") == f"Bearer {emu.api_key}"

    clean = httpx.get(export["download_url"])
    assert clean.status_code == 200
    document = clean.json()
    assert document["evidence_pack"]["invocation_id"] == invocation["invocation_id"]
    assert document["evidence_pack"]["chain_hash"] == invocation["evidence_pack_chain_hash"]

    tampered = export["download_url"].replace("X-Amz-Expires=900", "X-Amz-Expires=90000")
    assert httpx.get(tampered).status_code == 403
    emu.advance_time(901)
    expired = httpx.get(export["download_url"])
    assert expired.status_code == 403 and b"Request has expired" in expired.content


def test_stream_export_needs_the_key(emu: VelerianEmulator, http: httpx.Client) -> None:
    abp = emu.abps["stream"]
    invocation = invoke(http, abp).json()
    export = http.get(
        f"{API}/abps/{abp}/invocations/{invocation['invocation_id']}/evidence",
        params={"format": "zip"},
    ).json()
    assert export["delivery"] == "stream"
    assert export["download_url"] == f"{API}/exports/{export['export_id']}/content"
    assert httpx.get(f"{http.base_url}{export['download_url']}").status_code == 401
    content = http.get(export["download_url"])
    assert content.status_code == 200
    assert content.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(content.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["evidence_pack"]["invocation_id"] == invocation["invocation_id"]
    emu.advance_time(901)
    assert http.get(export["download_url"]).status_code == 404


def test_evidence_errors(emu: VelerianEmulator, http: httpx.Client) -> None:
    failed = invoke(http, emu.abps["error"]).json()
    no_pack = http.get(
        f"{API}/abps/{emu.abps['error']}/invocations/{failed['invocation_id']}/evidence"
    )
    assert no_pack.status_code == 404
    allowed = invoke(http, emu.abps["allow"]).json()
    wrong_abp = http.get(
        f"{API}/abps/{emu.abps['block']}/invocations/{allowed['invocation_id']}/evidence"
    )
    assert wrong_abp.status_code == 404
    bad_format = http.get(
        f"{API}/abps/{emu.abps['allow']}/invocations/{allowed['invocation_id']}/evidence",
        params={"format": "pdf"},
    )
    assert bad_format.status_code == 422
    presigned_via_api = http.get(f"{API}/exports/nope/content")
    assert presigned_via_api.status_code == 404


def test_evidence_package_since(emu: VelerianEmulator, http: httpx.Client) -> None:
    abp = emu.abps["allow"]
    missing = http.get(f"{API}/abps/{abp}/evidence-package")
    assert missing.status_code == 422
    assert missing.json() == {
        "detail": [{"type": "missing", "loc": ["query", "since"], "msg": "Field required",
                    "input": None}]
    }  # fmt: skip
    first = invoke(http, abp).json()
    invoke(http, abp)
    pack_time = next(p for p in emu.evidence_packs if p["id"] == first["evidence_pack_id"])
    export = http.get(
        f"{API}/abps/{abp}/evidence-package", params={"since": pack_time["created_at"]}
    ).json()
    assert export["artifact_kind"] == "evidence_package"
    document = httpx.get(export["download_url"]).json()
    assert len(document["evidence_packs"]) == 2  # since is inclusive
    for since in ("2999-01-01T00:00:00Z", "2999-01-01", "2999-01-01T00:00:00+02:00"):
        later = http.get(f"{API}/abps/{abp}/evidence-package", params={"since": since}).json()
        assert httpx.get(later["download_url"]).json()["evidence_packs"] == []
    bad = http.get(f"{API}/abps/{abp}/evidence-package", params={"since": "last week"})
    assert bad.status_code == 422


# --- usage summary ----------------------------------------------------------------------------


def test_usage_summary_pages_its_evidence_list(emu: VelerianEmulator, http: httpx.Client) -> None:
    for name in ("allow", "block", "approval", "error", "allow"):
        invoke(http, emu.abps[name])
    summary = http.get(f"{API}/usage/summary", params={"evidence_limit": 2}).json()
    assert summary["tenant_id"] == "tenant-1" and summary["as_of"].endswith("Z")
    assert summary["governed_runs"] == {
        "total": 5, "allowed": 2, "blocked": 1, "held_for_approval": 1, "errored": 1,
        "window_days": 30,
    }  # fmt: skip
    assert isinstance(summary["evidence_packs"], list) and len(summary["evidence_packs"]) == 2
    assert (summary["evidence_limit"], summary["evidence_offset"], summary["evidence_total"]) == (
        2, 0, 4,
    )  # fmt: skip
    assert summary["adoption"]["active_abps"] == 5
    pages = [
        http.get(f"{API}/usage/summary", params={"evidence_limit": 2, "evidence_offset": o}).json()
        for o in (0, 2, 4)
    ]
    ids = [p["id"] for page in pages for p in page["evidence_packs"]]
    assert len(ids) == len(set(ids)) == 4
    assert pages[2]["evidence_packs"] == []


# --- networks and pack runs -------------------------------------------------------------------


def test_network_run_moves_on_with_each_poll(emu: VelerianEmulator, http: httpx.Client) -> None:
    accepted = http.post(
        "/api/agenticx/networks/loan-review/invoke",
        params={"async": "true"},
        json={"prompt_text": "Assess loan 118", "metadata": {"loan_id": "L-118"}},
    )
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    assert accepted.json() == {
        "run_id": run_id, "run_url": f"{http.base_url}/runs/{run_id}", "status": "queued",
    }  # fmt: skip
    assert http.get(f"{API}/pack-runs").json()["items"][0]["status"] == "queued"  # no move
    statuses = [http.get(f"{API}/pack-runs/{run_id}").json()["status"] for _ in range(4)]
    assert statuses == ["queued", "running", "succeeded", "succeeded"]
    row = http.get(f"{API}/pack-runs/{run_id}").json()
    assert row["governance_pass"] is True and row["output_text"]
    assert row["metadata"] == {"loan_id": "L-118"}
    assert not {"slug", "run_url", "prompt_id"} & set(row)
    evidence = http.get(row["evidence_download_url"])
    assert evidence.status_code == 200 and evidence.json()["artifact_kind"] == "run_evidence"
    assert http.get(f"{API}/pack-runs", params={"status": "succeeded"}).json()["total"] == 1


@pytest.mark.parametrize(
    ("slug", "terminal"), [("restricted-review", "blocked"), ("flaky-review", "failed")]
)
def test_blocked_and_failed_runs(http: httpx.Client, slug: str, terminal: str) -> None:
    run_id = http.post(
        f"/api/agenticx/networks/{slug}/invoke", params={"async": "true"}, json={"prompt_text": "x"}
    ).json()["run_id"]
    rows = [http.get(f"{API}/pack-runs/{run_id}").json() for _ in range(3)]
    assert rows[-1]["status"] == terminal
    assert rows[-1]["governance_pass"] is False


def test_run_steps_slow_the_progression(
    emu: VelerianEmulator, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emu, "run_steps", 2)
    run_id = http.post(
        "/api/agenticx/networks/loan-review/invoke",
        params={"async": "true"},
        json={"prompt_text": "x"},
    ).json()["run_id"]
    statuses = [http.get(f"{API}/pack-runs/{run_id}").json()["status"] for _ in range(5)]
    assert statuses == ["queued", "queued", "running", "running", "succeeded"]


def test_synchronous_network_invoke(http: httpx.Client) -> None:
    response = http.post("/api/agenticx/networks/loan-review/invoke", json={"prompt_text": "x"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "slug", "run_id", "run_url", "prompt_id", "output_text", "model_id_used",
        "governance_pass", "governance_reasons", "evidence_download_url",
    }  # fmt: skip
    assert body["prompt_id"] == body["run_id"] and body["slug"] == "loan-review"
    assert http.get(f"{API}/pack-runs/{body['run_id']}").json()["status"] == "succeeded"


def test_network_errors(http: httpx.Client) -> None:
    unknown = http.post("/api/agenticx/networks/nope/invoke", json={"prompt_text": "x"})
    assert unknown.status_code == 404
    no_prompt = http.post("/api/agenticx/networks/loan-review/invoke", json={"metadata": {}})
    assert no_prompt.status_code == 422
    assert no_prompt.json()["detail"][0]["loc"] == ["body", "prompt_text"]
    assert http.get(f"{API}/pack-runs/nope").status_code == 404


# --- idempotency ------------------------------------------------------------------------------


def test_posts_are_not_deduplicated_without_a_key(
    emu: VelerianEmulator, http: httpx.Client
) -> None:
    first, second = invoke(http, emu.abps["allow"]), invoke(http, emu.abps["allow"])
    assert first.json()["invocation_id"] != second.json()["invocation_id"]
    assert len(emu.invocations) == 2


def test_an_idempotency_key_replays_the_first_answer(
    emu: VelerianEmulator, http: httpx.Client
) -> None:
    headers = {"Idempotency-Key": "step-1-try"}
    first = invoke(http, emu.abps["allow"], {"a": 1, "b": 2}, headers=headers)
    # the same JSON with another key order is the same request
    again = http.post(
        f"{API}/abps/{emu.abps['allow']}/invoke",
        content=b'{"payload": {"b": 2, "a": 1}}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(emu.invocations) == 1
    assert emu.invocations[0]["idempotency_key"] == "step-1-try"

    reused = invoke(http, emu.abps["allow"], {"a": 3}, headers=headers)
    assert reused.status_code == 422
    other_abp = invoke(http, emu.abps["block"], {"a": 1, "b": 2}, headers=headers)
    assert other_abp.status_code == 422
    assert len(emu.invocations) == 1
    rows = [r for r in emu.audit if r["action"] == "abp.invoke"]
    assert [r["metadata"].get("idempotent_replay", False) for r in rows] == [
        False,
        True,
        False,
        False,
    ]


def test_errors_are_not_remembered_under_an_idempotency_key(
    emu: VelerianEmulator, http: httpx.Client
) -> None:
    abp = emu.add_abp(state="draft")
    headers = {"Idempotency-Key": "k-1"}
    assert invoke(http, abp, headers=headers).status_code == 409
    emu.set_abp_state(abp, "deployed")
    assert invoke(http, abp, headers=headers).status_code == 200
    assert invoke(http, abp, headers={"Idempotency-Key": ""}).status_code == 400


def test_a_retry_after_accept_duplicates_unless_keyed(
    emu: VelerianEmulator, http: httpx.Client
) -> None:
    emu.inject("POST", f"{API}/abps/*/invoke", after_accept(server_error(502)))
    assert invoke(http, emu.abps["allow"]).status_code == 502
    assert invoke(http, emu.abps["allow"]).status_code == 200
    assert len(emu.invocations) == 2  # the blind retry created a second invocation

    emu.inject("POST", f"{API}/abps/*/invoke", after_accept(server_error(502)))
    headers = {"Idempotency-Key": "abc"}
    assert invoke(http, emu.abps["allow"], headers=headers).status_code == 502
    retried = invoke(http, emu.abps["allow"], headers=headers)
    assert retried.status_code == 200 and retried.headers["idempotent-replayed"] == "true"
    assert len(emu.invocations) == 3
    assert retried.json()["invocation_id"] == emu.invocations[-1]["invocation_id"]


# --- faults and the request log ---------------------------------------------------------------


def test_faults_are_consumed_in_order_per_route(emu: VelerianEmulator, http: httpx.Client) -> None:
    path = f"{API}/usage/summary"
    emu.inject("GET", path, rate_limited(retry_after=7), server_error(503), gateway_error(502))
    emu.inject("POST", path, server_error(500))  # another method: not used by GETs
    limited = http.get(path)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    assert http.get(path).status_code == 503
    html = http.get(path)
    assert html.status_code == 502 and html.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in html.text
    assert http.get(path).status_code == 200
    assert emu.pending_faults() == 1
    emu.reset_faults()
    assert emu.pending_faults() == 0
    assert [r.method for r in emu.requests_to(path=path)] == ["GET"] * 4


def test_any_method_and_patterns(emu: VelerianEmulator, http: httpx.Client) -> None:
    emu.inject("*", f"{API}/*", server_error(503), server_error(504))
    assert invoke(http, emu.abps["allow"]).status_code == 503
    assert http.get(f"{API}/approvals").status_code == 504
    assert http.get(f"{API}/approvals").status_code == 200
    assert emu.invocations == []  # a plain fault answers before the route runs


def test_malformed_dropped_and_slow_answers(emu: VelerianEmulator, base_url: str) -> None:
    path = f"{API}/approvals"
    emu.inject("GET", path, malformed_json(), drop(), slow(1.0), slow(0.05))
    with httpx.Client(base_url=base_url, headers=auth(emu.api_key), timeout=0.2) as http:
        malformed = http.get(path)
        assert malformed.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            malformed.json()
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(path)
        with pytest.raises(httpx.ReadTimeout):
            http.get(path)
        assert http.get(path).status_code == 200  # slow, but within the timeout


def test_a_slow_answer_after_accept_took_effect(emu: VelerianEmulator, base_url: str) -> None:
    emu.inject("POST", f"{API}/abps/*/invoke", after_accept(slow(1.0)))
    with (
        httpx.Client(base_url=base_url, headers=auth(emu.api_key), timeout=0.2) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        invoke(http, emu.abps["allow"])
    assert len(emu.invocations) == 1


def test_requests_are_recorded_with_headers(emu: VelerianEmulator, http: httpx.Client) -> None:
    invoke(http, emu.abps["allow"], headers={"Idempotency-Key": "k-42"})
    http.get(f"{API}/audit-log", params={"action": "abp.invoke"})
    invoke_request, audit_request = emu.requests
    assert invoke_request.method == "POST"
    assert invoke_request.header("idempotency-key") == "k-42"
    assert invoke_request.header("authorization") == f"Bearer {emu.api_key}"
    assert invoke_request.json() == {"payload": {}}
    assert (audit_request.path, audit_request.params) == (
        f"{API}/audit-log",
        {"action": "abp.invoke"},
    )
    emu.clear_requests()
    assert emu.requests == []


def test_control_routes_inject_faults_from_another_process(
    emu: VelerianEmulator, http: httpx.Client
) -> None:
    control = f"{http.base_url}/_emulator"
    injected = httpx.post(
        f"{control}/inject",
        json={
            "method": "POST",
            "path": f"{API}/abps/*/invoke",
            "faults": [{"kind": "html", "status": 502, "after_accept": True},
                       {"kind": "respond", "status": 429, "headers": {"Retry-After": "1"}}],
        },
    )  # fmt: skip
    assert injected.json() == {"pending": 2}
    assert invoke(http, emu.abps["allow"]).status_code == 502
    assert invoke(http, emu.abps["allow"]).status_code == 429
    state = httpx.get(f"{control}/state").json()
    assert state["counts"]["invocations"] == 1 and state["abps"] == emu.abps
    key = httpx.post(f"{control}/keys", json={"scopes": ["audit:read"]}).json()["api_key"]
    assert http.get(f"{API}/audit-log", headers=auth(key)).status_code == 200
    assert httpx.post(f"{control}/reset-faults").json() == {"reset": True}


def test_rate_limit_sends_an_integer_retry_after(
    emu: VelerianEmulator, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emu, "rate_limit", (3, 30.0))
    statuses = [http.get(f"{API}/approvals").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = http.get(f"{API}/approvals")
    assert limited.json() == {"detail": "Rate limit exceeded"}
    assert 1 <= int(limited.headers["retry-after"]) <= 30
    other = emu.add_key(["read"])  # per key
    assert http.get(f"{API}/approvals", headers=auth(other)).status_code == 200


def test_no_redirects_and_json_errors_for_unknown_routes(http: httpx.Client) -> None:
    trailing = http.get(f"{API}/approvals/")
    assert trailing.status_code == 404 and trailing.json() == {"detail": "Not Found"}
    wrong_method = http.delete(f"{API}/approvals")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "Method Not Allowed"}


# --- as a process -----------------------------------------------------------------------------


def test_runs_as_a_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "govflow.testing.velerian", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["base_url"].startswith("http://127.0.0.1:")
        assert info["api_key"].startswith("vk_live_")
        assert set(info["abps"]) >= {"allow", "block", "approval", "error", "draft"}
        response = httpx.post(
            f"{info['base_url']}{API}/abps/{info['abps']['allow']}/invoke",
            json={"payload": {}},
            headers=auth(info["api_key"]),
        )
        assert response.json()["outcome"] == "allowed"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
