"""Dagster resources: one ``ConfigurableResource`` per governance platform.

Each resource builds the core async platform per call (``async with``, run on govflow's own
event loop through :func:`govflow.core.sync.run_sync`) and exposes sync methods for ops, assets
and sensors. Secrets are plain ``str`` fields meant to be set with ``dg.EnvVar("...")``: Dagster
then resolves them at run time and never shows their value; govflow never logs them (the core
redactor knows every credential a platform client was given, and the repr masks them).

``gate`` returns the decision as a JSON-able dict when allowed and adds it, with a reference to
its evidence record, to the step's output metadata. A denial raises :class:`dg.Failure` with
``allow_retries=False`` (a decision is not a transient error). A pending decision is waited for
in the step (``wait=True``) or, with ``wait=False``, tags the run as awaiting the approval and
raises :class:`GovernancePending`, so that :func:`~govflow.dagster_resources.approval_sensor`
launches the job again once a human approved, without a run held meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from ..core.approvals import gate_and_wait
from ..core.approvals import wait_for_approval as _core_wait_for_approval
from ..core.errors import (
    ApprovalDeniedError,
    ApprovalExpiredError,
    ApprovalFailedError,
    ApprovalTimeoutError,
)
from ..core.evidence.ledger import EvidenceLedger
from ..core.evidence.recorder import EvidenceRecorder
from ..core.models import (
    Approval,
    ApprovalStatus,
    Decision,
    Evidence,
    GateRequest,
    RunContext,
    ValidationReport,
    decision_summary,
)
from ..core.platforms.base import Platform
from ..core.sync import run_sync
from .context import (
    APPROVAL_TAG,
    AWAITING_TAG,
    PENDING_TAG,
    Governed,
    op_context,
    remember,
    run_context,
    run_tags,
)

# What a ``dg.Failure`` of a gate carries at most of a platform's answer, in metadata.
_REASON_LIMIT = 500


class GovernancePending(dg.Failure):
    """The step needs an approval and was told not to wait (``wait=False``).

    The run is tagged ``govflow/awaiting_approval``; the approval sensor launches the job again,
    tagged with ``approval_id``, once the approval is granted.
    """

    def __init__(self, description: str, *, approval_id: str, metadata: Mapping[str, Any]) -> None:
        super().__init__(description=description, metadata=dict(metadata), allow_retries=False)
        self.approval_id = approval_id


def evidence_ref(record: Evidence) -> str:
    """The CLI reference of a record: ``govflow evidence show <ref>``."""
    return f"{record.stream}#{record.seq}"


def _labels(labels: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (labels or {}).items()}


def _short(text: str | None) -> str:
    text = text or "no reason given"
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 1] + "…"


class GovflowResource(dg.ConfigurableResource):  # type: ignore[type-arg]  # as dagster-* subclass it
    """Base of the govflow resources (not used directly): the shared gate, approval, contract
    and evidence methods. Subclasses say how to build their platform."""

    # Field names whose values are secrets: masked in repr.
    _secret_fields: ClassVar[tuple[str, ...]] = ()
    # Whether the platform appends its own gate.decided / contract.validated records to our ledger.
    _records_itself: ClassVar[bool] = False
    _ledger: EvidenceLedger | None = PrivateAttr(default=None)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, ("***" if name in self._secret_fields and value else value)

    # --- building blocks -----------------------------------------------------------------------

    def build_platform(self) -> Platform:
        """The core async platform configured from this resource; use it with ``async with``."""
        raise NotImplementedError

    def evidence_ledger(self) -> EvidenceLedger:
        """The ledger this resource records evidence in (``GOVFLOW_LEDGER_URL`` by default)."""
        if self._ledger is None:
            self._ledger = EvidenceLedger()
        return self._ledger

    def _records_gate_itself(self, platform: Platform) -> bool:
        return self._records_itself

    # --- gate ----------------------------------------------------------------------------------

    def gate(
        self,
        context: Any,
        action: str,
        resource: str | None = None,
        payload: Any = None,
        labels: Mapping[str, Any] | None = None,
        wait: bool = True,
        approval_timeout: float | None = None,
        poll: float = 2.0,
        purpose: str | None = None,
    ) -> dict[str, Any]:
        """Gate ``action`` on ``resource`` for the step running under ``context`` (an op, asset
        or asset-check context). Allowed: the decision dict. Denied: ``dg.Failure`` (no retries).
        Pending: wait in the step (``wait=True``, up to ``approval_timeout`` seconds, polling from
        ``poll`` seconds with backoff), then gate again; or (``wait=False``) tag the run for the
        approval sensor and raise :class:`GovernancePending`.
        """
        request = GateRequest(
            action=action,
            resource=resource,
            purpose=purpose,
            payload=payload,
            labels=_labels(labels),
        )
        return self._gate(
            context,
            request,
            self.build_platform(),
            wait=wait,
            approval_timeout=approval_timeout,
            poll=poll,
        )

    def _gate(
        self,
        context: Any,
        request: GateRequest,
        platform: Platform,
        *,
        wait: bool,
        approval_timeout: float | None,
        poll: float,
    ) -> dict[str, Any]:
        ctx = run_context(context)
        granted = run_tags(context).get(APPROVAL_TAG)
        log = op_context(context).log

        async def go() -> tuple[RunContext, Decision, Approval | None]:
            async with platform:
                binding, req, approval = ctx, request, None
                if granted:
                    binding, req, approval = await _continue_with(platform, ctx, request, granted)
                    if approval is not None:
                        log.info(
                            f"{request.action}: continuing with approval {granted} "
                            f"({approval.status.value} by {approval.decided_by or 'nobody yet'})"
                        )
                decision, waited = await gate_and_wait(
                    platform,
                    binding,
                    req,
                    wait=wait,
                    timeout=approval_timeout,
                    poll=poll,
                    on_wait=lambda pending: log.info(
                        f"{request.action} needs approval {pending.approval_id} "
                        f"({pending.reason}); waiting in the step"
                    ),
                )
                return binding, decision, waited or approval

        try:
            binding, decision, approval = run_sync(go())
        except ApprovalDeniedError as exc:
            self.record_evidence(
                context, "approval.decided", "denied", details={"action": request.action},
                approval_id=exc.approval_id,
            )
            raise dg.Failure(
                description=f"{request.action}: {exc}",
                metadata={"govflow/approval_id": exc.approval_id or ""},
                allow_retries=False,
            ) from exc
        except (ApprovalExpiredError, ApprovalTimeoutError, ApprovalFailedError) as exc:
            # Nobody decided against the step: a retry (if the op has a policy) asks again.
            raise dg.Failure(description=f"{request.action}: {exc}") from exc
        return self._finish(context, binding, request.action, platform, decision, approval)

    def _finish(
        self,
        context: Any,
        binding: RunContext,
        action: str,
        platform: Platform,
        decision: Decision,
        approval: Approval | None,
    ) -> dict[str, Any]:
        op = op_context(context)
        result = decision_summary(decision, approval.model_dump(mode="json") if approval else None)
        record = self._gate_record(context, binding, platform, decision, approval)
        ref = evidence_ref(record) if record is not None else None
        remember(context, Governed(binding.step, action, decision, approval, ref))
        metadata: dict[str, Any] = {"govflow/decision": dg.MetadataValue.json(result)}
        if record is not None:
            metadata["govflow/evidence"] = dg.MetadataValue.text(f"govflow evidence show {ref}")
            metadata["govflow/evidence_digest"] = dg.MetadataValue.text(record.digest)
        if decision.denied:
            op.log.error(f"{action} denied by {decision.platform}: {decision.reason}")
            raise dg.Failure(
                description=f"{action} denied by {decision.platform}: {_short(decision.reason)}",
                metadata=metadata,
                allow_retries=False,
            )
        if decision.pending:
            approval_id = decision.approval_id or ""
            # The sensor finds runs by a fixed tag value (RunsFilter matches values, not keys).
            op.instance.add_run_tags(op.run.run_id, {AWAITING_TAG: "true", PENDING_TAG: approval_id})
            op.log.warning(f"{action} is pending approval {approval_id}: {decision.reason}")
            raise GovernancePending(
                f"{action} is pending approval {approval_id} ({_short(decision.reason)}). Once it "
                "is approved (local platform: `govflow approvals approve "
                f"{approval_id} --as <approver>`), the govflow approval sensor launches this job "
                "again; or gate with wait=True to wait in the step.",
                approval_id=approval_id,
                metadata={**metadata, "govflow/approval_id": approval_id},
            )
        op.log.info(
            f"{action} allowed by {decision.platform} (decision {decision.decision_id}): "
            f"{decision.reason}"
        )
        try:
            op.add_output_metadata(metadata)
        except Exception as exc:  # several outputs, or an asset check: the log has it anyway
            op.log.debug(f"govflow: decision not added to output metadata ({exc})")
        return result

    def _gate_record(
        self,
        context: Any,
        binding: RunContext,
        platform: Platform,
        decision: Decision,
        approval: Approval | None,
    ) -> Evidence | None:
        """The evidence record of this decision: the one the platform wrote, else a new one."""
        if self._records_gate_itself(platform):
            try:
                records = self.evidence_ledger().records(binding.stream, run_id=binding.run_id)
            except Exception:
                return None
            return next(
                (r for r in reversed(records) if r.decision_id == decision.decision_id), None
            )
        return self.record_evidence(
            context, "gate.decided", decision.outcome.value, decision=decision, approval=approval
        )

    # --- approvals -----------------------------------------------------------------------------

    def get_approval(self, approval_id: str) -> Approval:
        """The approval's current state on this resource's platform."""
        platform = self.build_platform()

        async def go() -> Approval:
            async with platform:
                return await platform.get_approval(approval_id)

        return run_sync(go())

    def wait_for_approval(
        self, approval_id: str, timeout: float | None = None, poll: float = 2.0
    ) -> Approval:
        """Wait in this process until ``approval_id`` is approved; ``dg.Failure`` when denied."""
        platform = self.build_platform()

        async def go() -> Approval:
            async with platform:
                return await _core_wait_for_approval(platform, approval_id, timeout=timeout, poll=poll)

        try:
            return run_sync(go())
        except ApprovalDeniedError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc

    # --- contracts -----------------------------------------------------------------------------

    def validate(  # type: ignore[override]  # pydantic's deprecated classmethod of the same name
        self,
        contract_id: str,
        records: Iterable[Mapping[str, Any]],
        version: str | None = None,
        context: Any = None,
    ) -> ValidationReport:
        """Validate ``records`` against data contract ``contract_id``; the per-record report."""
        rows = [dict(r) for r in records]
        ctx = run_context(context) if context is not None else None
        platform = self.build_platform()

        async def go() -> ValidationReport:
            async with platform:
                return await platform.validate(contract_id, rows, version=version, context=ctx)

        return run_sync(go())

    # --- evidence ------------------------------------------------------------------------------

    def validation_evidence(
        self, context: Any, report: ValidationReport, outcome: str, details: Mapping[str, Any]
    ) -> Evidence | None:
        """The ``contract.validated`` record of a validation just made under ``context``."""
        if self._records_itself:  # the platform recorded it already
            try:
                ctx = run_context(context)
                records = self.evidence_ledger().records(ctx.stream, run_id=ctx.run_id)
            except Exception:
                return None
            return next(
                (
                    r
                    for r in reversed(records)
                    if r.event == "contract.validated" and r.context.step == ctx.step
                ),
                None,
            )
        return self.record_evidence(
            context,
            "contract.validated",
            outcome,
            references={"contract_id": report.contract_id, "platform": report.platform},
            details=dict(details),
        )

    def record_evidence(
        self,
        context: Any,
        event: str,
        outcome: str,
        *,
        decision: Decision | None = None,
        approval: Approval | None = None,
        references: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
        error: BaseException | str | None = None,
        approval_id: str | None = None,
    ) -> Evidence | None:
        """Append one evidence record for the step under ``context``; None if it could not be
        written (evidence never fails a run: the recorder logs a warning instead)."""
        try:
            ctx = run_context(context)
        except Exception:
            return None
        refs = dict(references or {})
        if approval_id and approval is None and decision is None:
            refs["approval_id"] = approval_id
        return EvidenceRecorder(self.evidence_ledger()).record(
            ctx,
            event=event,
            outcome=outcome,
            decision=decision,
            approval=approval,
            references=refs,
            details=dict(details or {}),
            error=error,
        )


async def _continue_with(
    platform: Platform, ctx: RunContext, request: GateRequest, approval_id: str
) -> tuple[RunContext, GateRequest, Approval | None]:
    """Gate with an approval granted to an earlier run of this job (the sensor's run tag).

    An approval bound to a step (the local platform) only unlocks that same pipeline, step and
    partition: the gate then speaks for the run that asked for it, so the platform finds the
    approval, and the new Dagster run id is kept as a label. Other steps of the run gate as usual.
    """
    approval = await platform.get_approval(approval_id)
    bound = approval.context
    if bound is not None:
        same = (bound.orchestrator, bound.pipeline, bound.step, bound.partition) == (
            ctx.orchestrator,
            ctx.pipeline,
            ctx.step,
            ctx.partition,
        )
        if not same:
            return ctx, request, None
        binding = ctx.model_copy(
            update={"run_id": bound.run_id, "labels": {**ctx.labels, "dagster_run_id": ctx.run_id}}
        )
        return binding, request.model_copy(update={"approval_id": approval_id}), approval
    if approval.action is not None and approval.action != request.action:
        return ctx, request, None
    return ctx, request.model_copy(update={"approval_id": approval_id}), approval


# --- the platforms -----------------------------------------------------------------------------


class GovflowLocalResource(GovflowResource):
    """govflow's own platform: a YAML policy, approvals and the evidence ledger in SQL.

    ``policy`` is the policy file (default: ``GOVFLOW_POLICY``, else allow all), ``database_url``
    the ledger and approvals database (default: ``GOVFLOW_LEDGER_URL``, else govflow's data
    directory), ``contracts`` a directory of data contracts for :meth:`validate`.
    """

    policy: str | None = None
    database_url: str | None = None
    contracts: str | None = None

    _secret_fields: ClassVar[tuple[str, ...]] = ("database_url",)
    _records_itself: ClassVar[bool] = True

    def build_platform(self) -> Platform:
        from ..core.platforms.local import LocalPlatform

        return LocalPlatform(self.policy, database_url=self.database_url, contracts=self.contracts)

    def evidence_ledger(self) -> EvidenceLedger:
        if self._ledger is None:
            self._ledger = EvidenceLedger(self.database_url)
        return self._ledger

    def pending_approvals(self, pipeline: str | None = None) -> list[Approval]:
        """The approvals still waiting for a human, newest first."""
        from ..core.platforms.local import LocalPlatform

        platform = self.build_platform()
        assert isinstance(platform, LocalPlatform)
        return platform.approvals.list(status=ApprovalStatus.PENDING, pipeline=pipeline)


class VelerianResource(GovflowResource):
    """Velerian: gates are governed invocations of ABPs (``abps`` maps actions to ABP ids)."""

    base_url: str | None = None
    api_key: str | None = None
    abp_id: str | None = None
    abps: dict[str, str] = Field(default_factory=dict, description="action -> ABP id")
    timeout: float = 30.0

    _secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)

    def build_platform(self) -> Platform:
        from ..core.platforms.velerian import VelerianPlatform

        return VelerianPlatform(
            abp_id=self.abp_id,
            abps=dict(self.abps),
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout,
        )

    def invoke(
        self,
        context: Any,
        abp_id: str,
        payload: Any = None,
        action: str | None = None,
        labels: Mapping[str, Any] | None = None,
        wait: bool = True,
        approval_timeout: float | None = None,
        poll: float = 2.0,
    ) -> dict[str, Any]:
        """Invoke ABP ``abp_id`` with ``payload``; its output is ``decision["output"]``, the
        invocation and evidence-pack ids are in ``decision["references"]``. Approvals as in
        :meth:`gate`; the re-gate after an approval reads it and does not invoke twice."""
        platform = self.build_platform()
        name = action or f"invoke:{abp_id}"
        platform.abps[name] = abp_id  # type: ignore[attr-defined]
        request = GateRequest(action=name, payload=payload, labels=_labels(labels))
        return self._gate(
            context, request, platform, wait=wait, approval_timeout=approval_timeout, poll=poll
        )


class LattixResource(GovflowResource):
    """Lattix: policy resolutions or protection plans; a bearer token or client credentials."""

    base_url: str | None = None
    bearer_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    tenant_id: str | None = None
    user_id: str | None = None
    decision: Literal["policy_resolve", "protection_plan"] = "policy_resolve"
    timeout: float = 30.0

    _secret_fields: ClassVar[tuple[str, ...]] = ("bearer_token", "client_secret")

    def build_platform(
        self, decision: Literal["policy_resolve", "protection_plan"] | None = None
    ) -> Platform:
        from ..core.platforms.lattix import LattixPlatform

        options: dict[str, Any] = {
            "base_url": self.base_url,
            "tenant_id": self.tenant_id,
            "user_id": self.user_id,
            "timeout": self.timeout,
        }
        # Only what is set, so an empty resource still falls back to LATTIX_* variables.
        credentials = {
            "bearer_token": self.bearer_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        options.update({k: v for k, v in credentials.items() if v is not None})
        return LattixPlatform(decision=decision or self.decision, **options)

    def gate(  # type: ignore[override]  # Lattix names an operation on a resource
        self,
        context: Any,
        operation: str,
        resource: str | None = None,
        payload: Any = None,
        labels: Mapping[str, Any] | None = None,
        purpose: str | None = None,
        decision: Literal["policy_resolve", "protection_plan"] | None = None,
    ) -> dict[str, Any]:
        """Ask whether ``operation`` (protect, access, rewrap) on ``resource`` may happen.

        Labels describe the resource (``resource_kind``, ``classification``, ``mime_type``; the
        rest are attributes); only the payload's digest is sent. What Lattix requires of the step
        is ``decision["obligations"]``.
        """
        request = GateRequest(
            action=operation, resource=resource, purpose=purpose, payload=payload,
            labels=_labels(labels),
        )
        return self._gate(
            context, request, self.build_platform(decision), wait=False,
            approval_timeout=None, poll=2.0,
        )


class LatchGateResource(GovflowResource):
    """LatchGate: agent actions executed through the gate (no secret: DPoP keys are per session)."""

    base_url: str | None = None
    socket: str | None = None
    public_base_url: str | None = None
    agent_id: str | None = None
    actions: dict[str, str] = Field(default_factory=dict, description="action -> LatchGate action")
    timeout: float = 30.0

    def build_platform(self) -> Platform:
        from ..core.platforms.latchgate import LatchGatePlatform

        return LatchGatePlatform(
            actions=dict(self.actions),
            socket=self.socket,
            base_url=self.base_url,
            public_base_url=self.public_base_url,
            agent_id=self.agent_id,
            timeout=self.timeout,
        )

    def execute(
        self,
        context: Any,
        action: str,
        payload: Any = None,
        labels: Mapping[str, Any] | None = None,
        approval_timeout: float | None = None,
        poll: float = 2.0,
    ) -> dict[str, Any]:
        """Execute ``action`` with ``payload``: its output is ``decision["output"]``, the receipt
        ``decision["references"]["receipt_id"]``. Always waits in the step for an approval: only
        the lease session that got it can poll it, so no sensor could pick it up later."""
        request = GateRequest(action=action, payload=payload, labels=_labels(labels))
        return self._gate(
            context, request, self.build_platform(), wait=True,
            approval_timeout=approval_timeout, poll=poll,
        )

    def gate(
        self,
        context: Any,
        action: str,
        resource: str | None = None,
        payload: Any = None,
        labels: Mapping[str, Any] | None = None,
        wait: bool = True,
        approval_timeout: float | None = None,
        poll: float = 2.0,
        purpose: str | None = None,
    ) -> dict[str, Any]:
        if not wait:
            raise dg.DagsterInvalidInvocationError(
                "LatchGate approvals can only be polled by the session that asked: gate with "
                "wait=True (or use execute)"
            )
        return super().gate(
            context, action, resource, payload, labels, True, approval_timeout, poll, purpose
        )


class ContractGateResource(GovflowResource):
    """ContractGate: data-contract validation (:meth:`validate`, :func:`contract_asset_check`)."""

    base_url: str | None = None
    api_key: str | None = None
    dry_run: bool = False
    atomic: bool = False
    timeout: float = 30.0

    _secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)

    def build_platform(self) -> Platform:
        from ..core.platforms.contractgate import ContractGatePlatform

        return ContractGatePlatform(
            dry_run=self.dry_run,
            atomic=self.atomic,
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout,
        )


__all__ = [
    "ContractGateResource",
    "GovernancePending",
    "GovflowLocalResource",
    "GovflowResource",
    "LatchGateResource",
    "LattixResource",
    "VelerianResource",
    "evidence_ref",
]
