"""Lattix as a govflow platform: gate = a Lattix decision, evidence sink = Lattix evidence events.

```python
async with LattixPlatform(LattixClient(url, bearer_token=token)) as lattix:
    decision = await lattix.gate(context, GateRequest(action="access", resource="claims/2026-05"))
```

Gate (``decision="policy_resolve"``, the default, or ``"protection_plan"``):

- ``GateRequest.action`` -> the Lattix ``ProtectionOperation`` through ``operations`` (default:
  ``protect``, ``access``, ``rewrap`` map to themselves). Another action is a
  ConfigurationError naming the valid ones: govflow never guesses what an action means.
- workload: the ``workload`` given, else ``application`` = pipeline, ``component`` = step,
  ``environment`` = the run's ``env`` label.
- resource: ``kind`` = the request label ``resource_kind`` (else ``resource_kind``), ``id`` =
  ``GateRequest.resource``, ``mime_type`` = the label ``mime_type``; Lattix data labels = the
  comma-separated label ``classification``; every other request label is sent as an attribute.
- ``content_digest`` = ``payload_digest``, or the digest of the payload (the payload itself is
  never sent; bytes are hashed as they are, and their size is sent too).
- allow/deny from ``decision.allow``; an *allow* whose answer breaks the local-only contract (the
  fail-closed checks) becomes a *deny* whose reason says which check failed, so the step does not
  run and the refusal is in the evidence. ``raw`` keeps the answer verbatim.

Evidence: each record becomes one ``POST /v1/sdk/evidence`` under an idempotency key (the outbox's,
else one derived from the record's digest), ``artifact_digest`` = the record's digest (the server
correlates by it) and the run identity in ``attributes``; never payloads, details or secrets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

from ...canonical import digest
from ...errors import ConfigurationError
from ...models import Decision, DecisionOutcome, Evidence, GateRequest, RunContext
from ..base import Capability, Platform
from ._checks import check_evidence_ingestion, check_policy_resolution, check_protection_plan
from ._client import LattixClient
from ._errors import PLATFORM, LattixFailClosedError
from ._models import (
    ArtifactProfile,
    EvidenceEventType,
    ProtectionOperation,
    ResourceDescriptor,
    SdkPolicyResolveResponse,
    SdkProtectionPlanResponse,
    WorkloadDescriptor,
    rfc3339,
)

DecisionRoute = Literal["policy_resolve", "protection_plan"]

DEFAULT_OPERATIONS: Mapping[str, ProtectionOperation] = {op.value: op for op in ProtectionOperation}

# Request labels with a meaning of their own (everything else becomes a Lattix attribute).
LABEL_RESOURCE_KIND = "resource_kind"
LABEL_MIME_TYPE = "mime_type"
LABEL_CLASSIFICATION = "classification"
_RESERVED_LABELS = frozenset({LABEL_RESOURCE_KIND, LABEL_MIME_TYPE, LABEL_CLASSIFICATION})

# Evidence outcomes that are refusals: sent as event_type "deny".
DENY_OUTCOMES = frozenset({"deny", "denied", "rejected", "blocked", "forbidden"})


def evidence_idempotency_key(record: Evidence) -> str:
    """The key used when the caller gives none: stable for the record (the outbox uses the same)."""
    return "govflow-" + record.digest.removeprefix("sha256:")


class LattixPlatform(Platform):
    """Gate and evidence sink backed by the Lattix SDK control plane.

    ``client``: a :class:`LattixClient`; without one, a client is built from ``client_options``
    and the environment (``LATTIX_*``) and closed with the platform. A client passed in is
    closed too when the platform is (``async with`` hands its ownership over).
    """

    name = PLATFORM
    capabilities = frozenset({Capability.GATE, Capability.EVIDENCE})

    def __init__(
        self,
        client: LattixClient | None = None,
        *,
        decision: DecisionRoute = "policy_resolve",
        workload: WorkloadDescriptor | None = None,
        operations: Mapping[str, ProtectionOperation | str] | None = None,
        resource_kind: str = "dataset",
        preferred_artifact_profile: ArtifactProfile | str | None = None,
        default_event_type: EvidenceEventType | str = EvidenceEventType.ACCESS,
        **client_options: Any,
    ) -> None:
        if decision not in ("policy_resolve", "protection_plan"):
            raise ConfigurationError(
                f"decision must be 'policy_resolve' or 'protection_plan', got {decision!r}", platform=PLATFORM
            )
        if client is not None and client_options:
            raise TypeError("pass either client= or the LattixClient arguments, not both")
        self.client = client if client is not None else LattixClient(**client_options)
        self.decision = decision
        self.workload = workload
        self.resource_kind = resource_kind
        self.preferred_artifact_profile = (
            ArtifactProfile(preferred_artifact_profile) if preferred_artifact_profile is not None else None
        )
        self.default_event_type = EvidenceEventType(default_event_type)
        mapping: dict[str, ProtectionOperation] = dict(DEFAULT_OPERATIONS)
        for action, operation in (operations or {}).items():
            op = ProtectionOperation(operation)
            if not op.known:
                valid = ", ".join(o.value for o in ProtectionOperation)
                raise ConfigurationError(
                    f"operations[{action!r}] = {operation!r} is not a Lattix operation; valid: {valid}",
                    platform=PLATFORM,
                )
            mapping[action] = op
        self.operations: Mapping[str, ProtectionOperation] = mapping

    def __repr__(self) -> str:
        return f"LattixPlatform({self.client!r}, decision={self.decision!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- mapping ---------------------------------------------------------------------------

    def operation_for(self, action: str) -> ProtectionOperation:
        """The Lattix operation of a govflow action; ConfigurationError for an unmapped one."""
        try:
            return self.operations[action]
        except KeyError:
            valid = ", ".join(sorted(self.operations))
            raise ConfigurationError(
                f"action {action!r} is not a Lattix operation; use one of: {valid} "
                "(or map it with LattixPlatform(operations={...}))",
                platform=PLATFORM,
            ) from None

    def workload_for(self, context: RunContext) -> WorkloadDescriptor:
        if self.workload is not None:
            return self.workload
        return WorkloadDescriptor(
            application=context.pipeline,
            environment=context.labels.get("env"),
            component=context.step,
        )

    def _resource(self, request: GateRequest) -> ResourceDescriptor:
        return ResourceDescriptor(
            kind=request.labels.get(LABEL_RESOURCE_KIND) or self.resource_kind,
            id=request.resource,
            mime_type=request.labels.get(LABEL_MIME_TYPE),
        )

    # --- gate ------------------------------------------------------------------------------

    async def gate(self, context: RunContext, request: GateRequest) -> Decision:
        operation = self.operation_for(request.action)
        resource = self._resource(request)
        content_digest, content_size = _content(request)
        fields: dict[str, Any] = {
            "operation": operation,
            "workload": self.workload_for(context),
            "resource": resource,
            "content_digest": content_digest,
            "content_size_bytes": content_size,
            "purpose": request.purpose,
            "labels": _classification(request.labels.get(LABEL_CLASSIFICATION)),
            "attributes": {k: v for k, v in request.labels.items() if k not in _RESERVED_LABELS},
        }
        references = {
            "platform": PLATFORM,
            "lattix_route": self.decision.replace("_", "-"),
            "lattix_operation": operation.value,
            "lattix_resource_kind": resource.kind,
        }
        if resource.id is not None:
            references["lattix_resource_id"] = resource.id

        answer: SdkPolicyResolveResponse | SdkProtectionPlanResponse
        obligations: list[dict[str, str]]
        if self.decision == "policy_resolve":
            answer = await self.client.policy_resolve(**fields)
            allow = answer.decision.allow
            obligations = _policy_obligations(answer)
        else:
            answer = await self.client.protection_plan(
                **fields, preferred_artifact_profile=self.preferred_artifact_profile
            )
            allow = answer.decision.allow
            obligations = _plan_obligations(answer)
            references["lattix_artifact_profile"] = answer.execution.artifact_profile.value
        references["lattix_tenant_id"] = answer.caller.tenant_id
        references["lattix_principal_id"] = answer.caller.principal_id

        if not allow:
            route = "policy resolution" if self.decision == "policy_resolve" else "protection plan"
            reason = "; ".join(answer.warnings) or f"{route} denied the {operation} operation"
            return Decision(
                outcome=DecisionOutcome.DENY,
                platform=PLATFORM,
                reason=reason,
                obligations=obligations,
                references=references,
                raw=answer.raw_json,
            )
        try:
            if isinstance(answer, SdkPolicyResolveResponse):
                check_policy_resolution(answer, operation)
            else:
                check_protection_plan(answer, operation)
        except LattixFailClosedError as exc:
            # Refuse rather than run the step against a platform that breaks the contract.
            references["lattix_fail_closed"] = exc.code or "fail_closed"
            return Decision(
                outcome=DecisionOutcome.DENY,
                platform=PLATFORM,
                reason=f"fail-closed: {exc.message}",
                obligations=obligations,
                references=references,
                raw=answer.raw_json,
            )
        return Decision(
            outcome=DecisionOutcome.ALLOW,
            platform=PLATFORM,
            reason=f"Lattix allowed the {operation} operation",
            obligations=obligations,
            references=references,
            raw=answer.raw_json,
        )

    # --- evidence --------------------------------------------------------------------------

    def event_type_for(self, record: Evidence) -> EvidenceEventType:
        """``deny`` for refusals; else the Lattix operation the step was gated for; else the default."""
        if record.outcome.lower() in DENY_OUTCOMES:
            return EvidenceEventType.DENY
        operation = record.references.get("lattix_operation")
        if operation is None:
            action = record.details.get("action")
            if isinstance(action, str) and action in self.operations:
                operation = self.operations[action].value
        if operation is not None:
            event_type = EvidenceEventType(operation)
            if event_type.known:
                return event_type
        return self.default_event_type

    def evidence_request_fields(self, record: Evidence) -> dict[str, Any]:
        """The ``SdkEvidenceIngestRequest`` fields for a record (identity only, never payloads)."""
        refs = record.references
        context = record.context
        attributes = {
            "govflow.orchestrator": context.orchestrator,
            "govflow.pipeline": context.pipeline,
            "govflow.run_id": context.run_id,
            "govflow.attempt": str(context.attempt),
            "govflow.stream": record.stream,
            "govflow.seq": str(record.seq),
            "govflow.event": record.event,
        }
        if context.step is not None:
            attributes["govflow.step"] = context.step
        if context.map_index is not None:
            attributes["govflow.map_index"] = str(context.map_index)
        if context.partition is not None:
            attributes["govflow.partition"] = context.partition
        if record.prev is not None:
            attributes["govflow.prev"] = record.prev
        purpose = record.details.get("purpose")
        return {
            "event_type": self.event_type_for(record),
            "workload": self.workload_for(context),
            "resource": ResourceDescriptor(
                kind=refs.get("lattix_resource_kind") or self.resource_kind,
                id=refs.get("lattix_resource_id"),
            ),
            "artifact_digest": record.digest,
            "decision_id": record.decision_id,
            "outcome": record.outcome,
            "occurred_at": rfc3339(record.recorded_at),
            "purpose": purpose if isinstance(purpose, str) else None,
            "attributes": attributes,
        }

    async def record_evidence(self, record: Evidence, *, idempotency_key: str | None = None) -> str:
        """POST the record as a Lattix evidence event; returns the record's digest.

        Every attempt carries the same idempotency key, so a retry after a lost answer does not
        store the event twice. Raises LattixFailClosedError when Lattix does not accept it.
        """
        answer = await self.client.evidence(
            **self.evidence_request_fields(record),
            idempotency_key=idempotency_key or evidence_idempotency_key(record),
        )
        check_evidence_ingestion(answer)
        return record.digest


def _classification(value: str | None) -> list[str]:
    if not value:
        return []
    return [label.strip() for label in value.split(",") if label.strip()]


def _content(request: GateRequest) -> tuple[str | None, int | None]:
    if request.payload_digest is not None:
        return request.payload_digest, None
    payload = request.payload
    if payload is None:
        return None, None
    if isinstance(payload, (bytes, bytearray, memoryview)):
        data = bytes(payload)
        return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)
    return digest(payload), None


def _policy_obligations(answer: SdkPolicyResolveResponse) -> list[dict[str, str]]:
    obligations = [{"kind": "required_action", "value": a} for a in answer.decision.required_actions]
    obligations += [{"kind": "evidence_expected", "value": e} for e in answer.handling.evidence_expected]
    obligations += [{"kind": "bind_policy_to", "value": b} for b in answer.handling.bind_policy_to]
    if answer.handling.protect_locally:
        obligations.append({"kind": "protect_locally", "value": "true"})
    return obligations


def _plan_obligations(answer: SdkProtectionPlanResponse) -> list[dict[str, str]]:
    execution = answer.execution
    obligations: list[dict[str, str]] = []
    if execution.protect_locally:
        obligations.append({"kind": "protect_locally", "value": execution.artifact_profile.value})
    obligations.append({"kind": "key_strategy", "value": execution.key_strategy})
    if execution.key_transport is not None:
        obligations.append({"kind": "key_transport", "value": execution.key_transport.mode.value})
    obligations += [{"kind": "send_only", "value": s} for s in execution.send_only]
    return obligations


__all__ = [
    "DEFAULT_OPERATIONS",
    "DENY_OUTCOMES",
    "DecisionRoute",
    "LattixPlatform",
    "evidence_idempotency_key",
]
