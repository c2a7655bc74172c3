"""Fidelity of the Lattix emulator to the wire contract (shared/specs/lattix.md).

The official SDK needs a native library and cannot run here, so the spec's §11 example pairs are
the reference: each example request is sent to the emulator over HTTP, configured as the
examples' world (the §11 caller, AUTHCFG, the deny rule the example implies), and the answer
must equal the example exactly (same keys, types, enum values, fixed strings, values), except
where a value cannot be reproduced: a fresh session ``access_token`` and the capabilities
``routes`` list (data, not fixed), which must only have the example's shape.

The examples come from tests/data/lattix_examples.json, a verbatim copy parsed out of the spec
by ``parse_spec_examples`` below; when the spec is beside the repository (``../shared``, as in
CI), a test parses it again and fails if the copy has drifted. Regenerate the copy with
``python tests/core/test_lattix_spec_examples.py``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from govflow.testing.lattix import DEFAULT_SCOPES, ENUMS, ROUTES, LattixEmulator, sdk_refusals

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "specs" / "lattix.md"
EXAMPLES_FILE = ROOT / "tests" / "data" / "lattix_examples.json"

# --- parsing §11 ----------------------------------------------------------------------------------

_TITLE = re.compile(r"^\*\*(?P<title>[^*]+)\*\*(?P<rest>.*)$", re.M)
_ROUTE = re.compile(r"`(GET|POST) (/v1/sdk/[a-z-]+)`")
_HEADER = re.compile(r"`((?:x-lattix-[a-z-]+|Authorization)): ([^`]+)`")
_PIECE = re.compile(
    r"```json\n(?P<block>.*?)```"  # a JSON block
    r"|`(?P<status>\d{3}) (?P<inline>\{.*?\})`"  # `401 {...}`
    r"|→ `(?P<bare>\{.*?\})`"  # → `{...}` (a 200 answer)
    r"|→ `(?P<code>\d{3})`",  # → `200` (the status of the next block)
    re.S,
)


def parse_spec_examples(text: str) -> dict[str, Any]:
    """The §11 examples: CALLER, AUTHCFG and, per bold title, route, headers, request, answers."""
    section = text[text.index("## 11.") :]
    blocks = re.findall(r"```json\n(.*?)```", section, re.S)
    caller_text, authcfg_text = blocks[0].strip(), blocks[1].strip()

    def load(raw: str) -> Any:
        raw = re.sub(r"(?<=:)CALLER\b", caller_text, raw)
        return json.loads(re.sub(r"(?<=:)AUTHCFG\b", authcfg_text, raw))

    titles = list(_TITLE.finditer(section))
    examples: list[dict[str, Any]] = []
    for i, match in enumerate(titles):
        end = titles[i + 1].start() if i + 1 < len(titles) else len(section)
        chunk = section[match.start() : end]
        title = match.group("title").strip()
        example: dict[str, Any] = {"title": title, "method": None, "path": None}
        route = _ROUTE.search(chunk)
        if route:
            example["method"], example["path"] = route.groups()
        elif title.startswith("whoami"):
            example["method"], example["path"] = ROUTES["whoami"]
        example["headers"] = dict(_HEADER.findall(match.group("rest")))
        example["request"] = None
        example["responses"] = []
        status, start = 200, match.end("title") + 2 - match.start()
        last = start
        for piece in _PIECE.finditer(chunk, start):
            before = chunk[last : piece.start()].strip(" \n→;:")
            last = piece.end()
            if piece.group("code"):
                status = int(piece.group("code"))
            elif piece.group("block") is not None:
                value = load(piece.group("block"))
                if example["method"] == "POST" and example["request"] is None:
                    example["request"] = value
                else:
                    example["responses"].append({"status": status, "body": value})
            elif piece.group("inline") is not None:
                example["responses"].append(
                    {
                        "status": int(piece.group("status")),
                        "body": load(piece.group("inline")),
                        "when": before.removeprefix("[EMU]:").strip(),
                    }
                )
            else:
                example["responses"].append({"status": 200, "body": load(piece.group("bare"))})
        examples.append(example)
    return {
        "CALLER": json.loads(caller_text),
        "AUTHCFG": json.loads(authcfg_text),
        "examples": examples,
    }


def _load_examples() -> dict[str, Any]:
    if not EXAMPLES_FILE.is_file():  # only while regenerating it
        return {"CALLER": {}, "AUTHCFG": {}, "examples": []}
    data: dict[str, Any] = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    return data


DATA = _load_examples()
CALLER: dict[str, Any] = DATA["CALLER"]
AUTHCFG: dict[str, Any] = DATA["AUTHCFG"]
EXAMPLES: dict[str, dict[str, Any]] = {e["title"]: e for e in DATA["examples"]}


def test_examples_file_is_a_verbatim_copy_of_the_spec() -> None:
    if not SPEC.is_file():
        pytest.skip(f"the spec is not beside the repository ({SPEC})")
    parsed = parse_spec_examples(SPEC.read_text(encoding="utf-8"))
    assert parsed["CALLER"] == CALLER
    assert parsed["AUTHCFG"] == AUTHCFG
    assert parsed["examples"] == DATA["examples"], (
        "lattix.md §11 changed: run python tests/core/test_lattix_spec_examples.py and review"
    )


# --- comparing ------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return type(value).__name__


def assert_shape(expected: Any, actual: Any, path: str = "$") -> None:
    """Same JSON types and, for objects, exactly the same keys, recursively (values free)."""
    assert _type_name(actual) == _type_name(expected), f"{path}: {actual!r} vs {expected!r}"
    if isinstance(expected, dict):
        assert set(actual) == set(expected), (
            f"{path}: extra keys {sorted(set(actual) - set(expected))}, "
            f"missing keys {sorted(set(expected) - set(actual))}"
        )
        for key, value in expected.items():
            assert_shape(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list) and expected:
        for i, item in enumerate(actual):
            assert_shape(expected[0], item, f"{path}[{i}]")


def assert_matches(
    expected: Any, actual: Any, *, shape_only: frozenset[str] = frozenset(), path: str = "$"
) -> None:
    """Equal, with the first difference named by its path; ``shape_only`` paths: same shape."""
    if path in shape_only:
        assert_shape(expected, actual, path)
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        assert set(actual) == set(expected), (
            f"{path}: extra keys {sorted(set(actual) - set(expected))}, "
            f"missing keys {sorted(set(expected) - set(actual))}"
        )
        for key, value in expected.items():
            assert_matches(value, actual[key], shape_only=shape_only, path=f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected an array, got {actual!r}"
        assert len(actual) == len(expected), f"{path}: {actual!r} vs {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_matches(e, a, shape_only=shape_only, path=f"{path}[{i}]")
    else:
        # type() too: JSON true is not 1, 900 is not 900.0
        assert _type_name(actual) == _type_name(expected) and actual == expected, (
            f"{path}: {actual!r} vs {expected!r}"
        )


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ({"a": 1}, {"a": 1, "b": 2}),  # an extra key
        ({"a": 1, "b": 2}, {"a": 1}),  # a missing key
        ({"a": True}, {"a": 1}),  # a type
        ({"a": 900}, {"a": 900.0}),
        ({"a": ["x", "y"]}, {"a": ["y", "x"]}),  # an order
        ({"a": None}, {"a": "x"}),
    ],
)
def test_the_comparison_misses_nothing(expected: Any, actual: Any) -> None:
    with pytest.raises(AssertionError):
        assert_matches(expected, actual)


# --- the examples' world --------------------------------------------------------------------------


def example_world(auth_mode: Any = "bearer_token") -> LattixEmulator:
    return LattixEmulator(
        auth_mode,
        tenant_id=CALLER["tenant_id"],
        user_id=CALLER["principal_id"],
        subject=CALLER["subject"],
        scopes=CALLER["scopes"],
        auth_configuration=AUTHCFG,
        client_id="claims-batch",
        client_secret="s3cr3t-value",
    )


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[LattixEmulator, str]]:
    emu = example_world()
    with emu.serve() as base_url:
        yield emu, base_url


@pytest.fixture
def emu(world: tuple[LattixEmulator, str]) -> LattixEmulator:
    world[0].reset()
    world[0].key_transport = None
    return world[0]


@pytest.fixture(scope="module")
def http(world: tuple[LattixEmulator, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world[1], timeout=10.0) as client:
        yield client


def send(
    http: httpx.Client,
    emu: LattixEmulator,
    example: dict[str, Any],
    *,
    request: Any = None,
    auth: bool = True,
) -> httpx.Response:
    """The example's request; the example's placeholder token becomes the emulator's."""
    headers = dict(example["headers"])
    headers.pop("Authorization", None)
    if auth and example["path"] != ROUTES["session"][1]:
        headers["Authorization"] = f"Bearer {emu.bearer_token}"
    body = example["request"] if request is None else request
    if example["method"] == "GET":
        return http.get(example["path"], headers=headers)
    # Compact JSON, as the Rust core sends it.
    content = json.dumps(body, separators=(",", ":"))
    headers["Content-Type"] = "application/json"
    return http.post(example["path"], headers=headers, content=content)


def check(example: dict[str, Any], response: httpx.Response, index: int = 0, **kw: Any) -> None:
    expected = example["responses"][index]
    assert response.status_code == expected["status"], response.text
    assert_matches(expected["body"], response.json(), **kw)


# --- one test per §11 example ---------------------------------------------------------------------

HANDLED: set[str] = set()


def handles(title: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    HANDLED.add(title)
    return lambda fn: fn


def test_every_example_of_the_spec_is_checked() -> None:
    assert set(EXAMPLES) == HANDLED


@handles("capabilities")
def test_capabilities(emu: LattixEmulator, http: httpx.Client) -> None:
    example = EXAMPLES["capabilities"]
    response = send(http, emu, example)
    check(example, response, shape_only=frozenset({"$.routes"}))
    routes = {r["route"] for r in response.json()["routes"]}
    example_routes = {r["route"] for r in example["responses"][0]["body"]["routes"]}
    assert example_routes <= routes


@handles("whoami")
def test_whoami(emu: LattixEmulator, http: httpx.Client) -> None:
    check(EXAMPLES["whoami"], send(http, emu, EXAMPLES["whoami"]))


@handles("whoami, trusted-header mode")
def test_whoami_trusted_headers() -> None:
    example = EXAMPLES["whoami, trusted-header mode"]
    emu = example_world("trusted_headers")
    with emu.serve() as base_url, httpx.Client(base_url=base_url) as http:
        check(example, send(http, emu, example, auth=False))


@handles("bootstrap")
def test_bootstrap(emu: LattixEmulator, http: httpx.Client) -> None:
    check(EXAMPLES["bootstrap"], send(http, emu, EXAMPLES["bootstrap"]))


@handles("session")
def test_session(emu: LattixEmulator, http: httpx.Client) -> None:
    example = EXAMPLES["session"]
    response = send(http, emu, example)
    check(example, response, shape_only=frozenset({"$.access_token"}))
    assert response.json()["access_token"].startswith("lx_sess_")
    bad = dict(example["request"], client_secret="wrong")
    assert example["responses"][1]["when"] == "bad secret"
    check(example, send(http, emu, example, request=bad), index=1)


@handles("protection-plan")
def test_protection_plan(emu: LattixEmulator, http: httpx.Client) -> None:
    check(EXAMPLES["protection-plan"], send(http, emu, EXAMPLES["protection-plan"]))


@handles("policy-resolve (deny)")
def test_policy_resolve_deny_and_its_allow_variant(emu: LattixEmulator, http: httpx.Client) -> None:
    example = EXAMPLES["policy-resolve (deny)"]
    rule = emu.deny(label="pii", purpose="analytics")
    check(example, send(http, emu, example))
    # "(allow variant: same with "allow":true, required_actions ["artifact_register","evidence"],
    #  evidence_expected ["access"], no warning.)"
    emu.allow(rule)
    allowed = copy.deepcopy(example["responses"][0]["body"])
    allowed["decision"].update(allow=True, required_actions=["artifact_register", "evidence"])
    allowed["handling"]["evidence_expected"] = ["access"]
    allowed["warnings"] = []
    assert_matches(allowed, send(http, emu, example).json())


@handles("key-access-plan")
def test_key_access_plan_and_its_kem_variant(emu: LattixEmulator, http: httpx.Client) -> None:
    example = EXAMPLES["key-access-plan"]
    check(example, send(http, emu, example))
    # "(kem variant: "mode":"kem_encapsulated_cek","public_key_distribution":"tenant_jwks",
    #  "exchange_algorithm":"ml-kem-768" — values [EMU].)"
    emu.key_transport = "kem_encapsulated_cek"
    kem = copy.deepcopy(example["responses"][0]["body"])
    kem["execution"]["key_transport"].update(
        mode="kem_encapsulated_cek",
        public_key_distribution="tenant_jwks",
        exchange_algorithm="ml-kem-768",
    )
    assert_matches(kem, send(http, emu, example).json())


@handles("artifact-register")
def test_artifact_register(emu: LattixEmulator, http: httpx.Client) -> None:
    check(EXAMPLES["artifact-register"], send(http, emu, EXAMPLES["artifact-register"]))


@handles("evidence")
def test_evidence(emu: LattixEmulator, http: httpx.Client) -> None:
    example = EXAMPLES["evidence"]
    check(example, send(http, emu, example))
    assert emu.evidence == [example["request"]]


@handles("error examples")
def test_error_examples(emu: LattixEmulator, http: httpx.Client) -> None:
    no_credentials, bad_operation = EXAMPLES["error examples"]["responses"]
    assert no_credentials["when"] == "no credentials in bearer mode"
    response = send(http, emu, EXAMPLES["whoami"], auth=False)
    assert response.status_code == no_credentials["status"]
    assert response.json() == no_credentials["body"]

    assert bad_operation["when"].startswith('`{"operation":"encrypt"')
    request = dict(EXAMPLES["protection-plan"]["request"], operation="encrypt")
    response = send(http, emu, EXAMPLES["protection-plan"], request=request)
    assert response.status_code == bad_operation["status"]
    body, expected = response.json(), bad_operation["body"]
    assert_shape(expected, body)
    assert body["error"] == expected["error"] and body["status"] == expected["status"]
    # The emulator adds serde's list of expected variants after the spec's text.
    assert body["message"].startswith(expected["message"])


# --- fixture values quoted elsewhere in the spec --------------------------------------------------


def test_session_fixture_values_of_section_2_4(emu: LattixEmulator, http: httpx.Client) -> None:
    """§2.4: token_type Bearer, expires_in 900, scope platform-api.access, subject sdk:<id>, and
    the caller such a token yields."""
    response = http.post(
        ROUTES["session"][1],
        json={
            "tenant_id": emu.tenant_id,
            "client_id": "claims-batch",
            "client_secret": "s3cr3t-value",
            "requested_scopes": ["platform-api.access"],
        },
    )
    session = response.json()
    assert (session["token_type"], session["expires_in"], session["scope"]) == (
        "Bearer",
        900,
        "platform-api.access",
    )
    assert session["subject"] == "sdk:claims-batch"
    who = http.get(
        ROUTES["whoami"][1], headers={"Authorization": f"Bearer {session['access_token']}"}
    )
    assert who.json()["caller"] == {
        "tenant_id": emu.tenant_id,
        "principal_id": "claims-batch",
        "subject": "sdk:claims-batch",
        "auth_source": "sdk_client_credentials",
        "scopes": ["platform-api.access"],
    }


def test_capabilities_fixture_values_of_section_5_1() -> None:
    """§5.1: default scope platform-api.access; route protection-plan, domain policy, scope
    policy.read (as a configured route scope, which the emulator then enforces)."""
    emu = LattixEmulator("bearer_token", route_scopes={"protection-plan": ["policy.read"]})
    with emu.serve() as base_url, httpx.Client(base_url=base_url) as http:
        headers = {"Authorization": f"Bearer {emu.bearer_token}"}
        body = http.get(ROUTES["capabilities"][1], headers=headers).json()
        assert body["default_required_scopes"] == ["platform-api.access"]
        assert {
            "route": "/v1/sdk/protection-plan",
            "domain": "policy",
            "configured": True,
            "required_scopes": ["policy.read"],
        } in body["routes"]
        request = EXAMPLES["protection-plan"]["request"]
        denied = http.post(ROUTES["protection-plan"][1], headers=headers, json=request)
        assert denied.status_code == 403 and denied.json()["error"] == "insufficient_scope"
        token = emu.add_token(scopes=[*emu.scopes, "policy.read"])
        allowed = http.post(
            ROUTES["protection-plan"][1],
            headers={"Authorization": f"Bearer {token}"},
            json=request,
        )
        assert allowed.status_code == 200


# §9 (plus the §11 values): the free-form strings the emulator may emit, field by field.
VOCABULARY: dict[str, set[str]] = {
    "service": {"lattix-platform-api"},
    "status": {"ready", "ok"},
    "enforcement_model": {"embedded_local_library"},
    "policy_resolution_mode": {"metadata_only_control_plane"},
    "handling_mode": {"local_embedded_enforcement"},
    "enforcement_mode": {"local_embedded_enforcement"},
    "plaintext_transport": {"forbidden_by_default"},
    "local_enforcement_library": {"sdk_embedded_library", "sdk_embedded_library_or_local_sidecar"},
    "key_strategy": {"local", "encrypt_locally_then_wrap_or_authorize_key_release"},
    "policy_resolution": {"metadata_only", "platform_api_resolves_policy_from_metadata_only"},
    "platform_role": {"authorize_only"},
    "authorization_strategy": {"metadata_only", "metadata_only_control_plane"},
    "artifact_transport": {"metadata_only"},
    "key_material_origin": {"kms", "caller"},  # "caller": the §11 protection-plan example
    "send_only": {"content digest", "policy metadata", "artifact digest", "tenant metadata"},
    "required_scopes": {
        "platform-api.access",
        "policy.read",
        "sdk.protect",
        "sdk.access",
        "sdk.rewrap",
    },
    "default_required_scopes": {"platform-api.access"},
    "auth_source": {"bearer_token", "sdk_client_credentials", "trusted_headers"},
    "token_type": {"Bearer"},
    # §11 values of the lists the SDK does not check
    "policy_inputs": {"content_digest", "labels", "purpose", "attributes"},
    "required_actions": {"artifact_register", "evidence"},
    "bind_policy_to": {"artifact_digest", "content_digest"},
    "catalog_actions": {"record_artifact"},
    "correlate_by": {"artifact_digest", "tenant_id"},
    "domain": {"policy", "keys", "evidence", "artifacts"},  # artifacts: documented emulator choice
    "public_key_distribution": {"tenant_jwks"},
    "exchange_algorithm": {"ml-kem-768"},
}
# Fields whose values are enum members (§4).
ENUM_FIELDS: dict[str, str] = {
    "auth_mode": "AuthMode",
    "proof_of_possession": "SdkProofOfPossession",
    "supported_operations": "ProtectionOperation",
    "supported_artifact_profiles": "ArtifactProfile",
    "preferred_artifact_profile": "ArtifactProfile",
    "artifact_profile": "ArtifactProfile",
    "event_type": "EvidenceEventType",
    "evidence_expected": "EvidenceEventType",
}


def _strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "caller":
                continue  # identities are data
            yield from _strings(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, key)
    elif isinstance(node, str):
        yield key, node


def _flows(emu: LattixEmulator, http: httpx.Client) -> Iterator[tuple[str, Any, Any, str]]:
    """§8: the SDK helpers' call sequences (protect, access, rewrap) with every profile; yields
    (route, request, answer, flow operation)."""
    # The §11 caller has no sdk.rewrap scope, which the rewrap flow needs.
    token = emu.add_token(scopes=DEFAULT_SCOPES)
    headers = {"Authorization": f"Bearer {token}"}
    workload = {"application": "claims-api", "environment": "prod", "component": None}
    resource = {"kind": "document", "id": "claim-8812", "mime_type": "application/pdf"}
    digest = "sha256:" + "ab" * 32
    common = {"workload": workload, "resource": resource, "labels": ["pii"], "attributes": {}}

    def post(route: str, body: dict[str, Any], flow: str) -> tuple[str, Any, Any, str]:
        response = http.post(ROUTES[route][1], headers=headers, json=body)
        assert response.status_code == 200, response.text
        return route, body, response.json(), flow

    for profile in ENUMS["ArtifactProfile"]:
        for key_reference in ("local-tdf-key", "kms://integration/full/current"):
            boot = http.get(ROUTES["bootstrap"][1], headers=headers).json()
            yield "bootstrap", None, boot, "protect"
            for op in ("protect", "access", "rewrap"):
                size: dict[str, Any] = {"content_digest": digest, "content_size_bytes": 20480}
                yield post("policy-resolve", {"operation": op, **common, **size}, op)
                if op != "access":
                    yield post(
                        "protection-plan",
                        {"operation": op, "preferred_artifact_profile": profile, **common, **size},
                        op,
                    )
                key_op = {"protect": "wrap", "access": "unwrap", "rewrap": "rewrap"}[op]
                yield post(
                    "key-access-plan",
                    {
                        "operation": key_op,
                        "artifact_profile": profile,
                        "key_reference": key_reference,
                        "content_digest": digest,
                        **common,
                    },
                    op,
                )
                if op != "access":
                    yield post(
                        "artifact-register",
                        {
                            "operation": op,
                            "artifact_profile": profile,
                            "artifact_digest": digest,
                            "key_reference": key_reference,
                            **common,
                        },
                        op,
                    )
                yield post(
                    "evidence",
                    {
                        "event_type": op,
                        "artifact_profile": profile,
                        "artifact_digest": digest,
                        "outcome": "success",
                        "occurred_at": "2026-05-12T09:30:00Z",
                        **common,
                    },
                    op,
                )


def test_sdk_call_sequences_pass_every_fail_closed_check(
    emu: LattixEmulator, http: httpx.Client
) -> None:
    """§8 flows: the official SDK would accept every answer (models, enums, fail-closed checks),
    and every fixed string is from the spec's vocabulary."""
    seen = 0
    for route, request, answer, flow in _flows(emu, http):
        profile = request.get("artifact_profile") if request else None
        assert sdk_refusals(route, answer, request, operation=flow, profile=profile) == []
        for key, value in _strings(answer):
            if key in ENUM_FIELDS:
                assert value in ENUMS[ENUM_FIELDS[key]], (route, key, value)
            elif key in VOCABULARY:
                assert value in VOCABULARY[key], (route, key, value)
        seen += 1
    assert seen > 30


def test_wire_nulls_of_the_rust_core_are_accepted(emu: LattixEmulator, http: httpx.Client) -> None:
    """§1: the Rust core sends every absent optional field as null, labels/attributes always."""
    headers = {"Authorization": f"Bearer {emu.bearer_token}", "Content-Type": "application/json"}
    body = (
        '{"event_type":"deny","workload":{"application":"a","environment":null,"component":null},'
        '"resource":{"kind":"document","id":null,"mime_type":null},"artifact_profile":null,'
        '"artifact_digest":null,"decision_id":null,"outcome":null,'
        '"occurred_at":"0001-01-01T00:00:00Z","purpose":null,"labels":[],"attributes":{}}'
    )
    response = http.post(ROUTES["evidence"][1], headers=headers, content=body)
    assert response.status_code == 200, response.text
    summary = response.json()["request_summary"]
    assert summary["occurred_at"] == "0001-01-01T00:00:00Z"  # Go's zero time, echoed
    assert summary["artifact_digest_present"] is False and summary["artifact_profile"] is None


if __name__ == "__main__":
    parsed = parse_spec_examples(SPEC.read_text(encoding="utf-8"))
    document = {
        "source": "shared/specs/lattix.md §11, parsed by tests/core/test_lattix_spec_examples.py "
        "(CALLER and AUTHCFG substituted); do not edit by hand",
        **parsed,
    }
    EXAMPLES_FILE.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {EXAMPLES_FILE} ({len(parsed['examples'])} examples)")
