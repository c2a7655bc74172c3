"""The embedded local platform: policy rules decide, people approve, the ledger remembers.

::

    async with LocalPlatform("policy.yaml") as platform:
        decision = await platform.gate(context, GateRequest(action="export", resource="s3://x"))

No configuration is needed: without a policy (argument or ``GOVFLOW_POLICY``) everything is
allowed and still recorded; the database is ``GOVFLOW_LEDGER_URL`` or a SQLite file in the user's
data directory. Approvals and evidence share that database, so the ``govflow`` CLI run on the same
machine (or against the same PostgreSQL) sees and decides what the pipelines asked for.

With contract files (``contracts=`` or ``GOVFLOW_CONTRACTS``) it also validates records, with
the ContractGate validator, and records each validation in the ledger.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import db
from ...canonical import digest
from ...errors import CanonicalizationError, CapabilityNotSupportedError, NotFoundError
from ...evidence import EvidenceLedger
from ...models import (
    Approval,
    ApprovalStatus,
    Decision,
    DecisionOutcome,
    Evidence,
    GateRequest,
    RunContext,
    ValidationReport,
    utcnow,
)
from ..base import Capability, Platform
from .approvals import ApprovalStore
from .policy import Policy, PolicyDecision, PolicyResult

if TYPE_CHECKING:
    from ..contractgate import LocalContract, LocalContracts

_NAME = "local"


def new_decision_id() -> str:
    return "dec_" + secrets.token_hex(8)


class LocalPlatform(Platform):
    """Policy gate, approvals and evidence ledger in one local (or shared SQL) database.

    ``contracts`` (else ``GOVFLOW_CONTRACTS``): contract YAML files, a directory of them, or a
    :class:`LocalContracts`; with them the platform also offers ``validate`` (see
    :meth:`validate`), and without them it does not offer it at all, so an adapter that needs
    validation fails when it is configured.
    """

    name = _NAME
    capabilities = frozenset({Capability.GATE, Capability.APPROVALS, Capability.EVIDENCE})

    def __init__(
        self,
        policy: str | Path | Policy | None = None,
        *,
        database_url: str | None = None,
        contracts: str | Path | Sequence[str | Path] | LocalContracts | None = None,
    ) -> None:
        if policy is None and (from_env := os.environ.get("GOVFLOW_POLICY")):
            policy = from_env
        if isinstance(policy, Policy):
            self.policy = policy
        elif policy is not None:
            self.policy = Policy.load(policy)  # a bad file fails here, before any run
        else:
            self.policy = Policy.allow_all()
        self.database_url = database_url or db.default_database_url()
        self.approvals = ApprovalStore(self.database_url)
        self.ledger = EvidenceLedger(self.database_url)
        self.contracts: LocalContracts | None = None
        if contracts is not None or os.environ.get("GOVFLOW_CONTRACTS", "").strip():
            from ..contractgate import LocalContracts  # loads the validator only when asked

            self.contracts = LocalContracts.coerce(contracts, platform=_NAME)  # compiled here, before any run
            self.capabilities = type(self).capabilities | {Capability.VALIDATE}

    def __repr__(self) -> str:
        return f"LocalPlatform(policy={self.policy!r}, database_url={db.display_url(self.database_url)!r})"

    # gate

    async def gate(self, context: RunContext, request: GateRequest) -> Decision:
        result = self.policy.evaluate(context, request)
        request_digest = request.request_digest()
        decision_id = new_decision_id()
        approval: Approval | None = None
        created = False
        if result.decision is PolicyDecision.ALLOW:
            outcome, reason = DecisionOutcome.ALLOW, result.reason
        elif result.decision is PolicyDecision.DENY:
            outcome, reason = DecisionOutcome.DENY, result.reason
        else:
            found, created = await asyncio.to_thread(self._approval_for, context, request, result)
            outcome, reason = _from_approval(found, result)
            approval = found

        references = {"platform": _NAME}
        if result.rule is not None:
            references["rule"] = result.rule
        details: dict[str, Any] = {
            "action": request.action,
            "resource": request.resource,
            "purpose": request.purpose,
            "request_digest": request_digest,  # the payload itself never enters evidence
            "reason": reason,
            "policy_decision": result.decision.value,
            "policy": self.policy.path,
            "policy_digest": self.policy.digest,
        }
        if approval is not None:
            details["approval_status"] = approval.status.value
            details["approval_created"] = created
        await self.ledger.aappend(
            context=context,
            event="gate.decided",
            outcome=outcome.value,
            decision_id=decision_id,
            approval_id=approval.id if approval is not None else None,
            references=references,
            details=details,
        )
        raw: dict[str, Any] = {
            **result.to_dict(),
            "policy": self.policy.path,
            "policy_digest": self.policy.digest,
            "approval": approval.model_dump(mode="json") if approval is not None else None,
        }
        return Decision(
            outcome=outcome,
            platform=_NAME,
            reason=reason,
            decision_id=decision_id,
            approval_id=approval.id if approval is not None else None,
            references=references,
            raw=raw,
        )

    def _approval_for(
        self, context: RunContext, request: GateRequest, result: PolicyResult
    ) -> tuple[Approval, bool]:
        expires_in: timedelta | None = result.expires_in
        return self.approvals.ensure(
            context=context,
            request=request,
            rule=result.rule,
            reason=result.reason,
            approvers=list(result.approvers),
            expires_at=utcnow() + expires_in if expires_in is not None else None,
        )

    # approvals

    async def get_approval(self, approval_id: str) -> Approval:
        return await asyncio.to_thread(self.approvals.get, approval_id)

    def decide(
        self, approval_id: str, *, approve: bool, by: str, comment: str | None = None
    ) -> Approval:
        """Approve or deny (the CLI's path); records ``approval.decided`` in the run's stream."""
        approval = self.approvals.decide(approval_id, approve=approve, by=by, comment=comment)
        assert approval.context is not None  # local approvals always carry their binding
        raw = approval.raw if isinstance(approval.raw, dict) else {}
        references = {"platform": _NAME}
        if raw.get("rule"):
            references["rule"] = str(raw["rule"])
        self.ledger.append(
            context=approval.context,
            event="approval.decided",
            outcome=approval.status.value,
            approval_id=approval.id,
            references=references,
            details={
                "decided_by": approval.decided_by,
                "comment": approval.comment,
                "action": approval.action,
                "resource": approval.resource,
                "request_digest": raw.get("request_digest"),
            },
        )
        return approval

    async def adecide(
        self, approval_id: str, *, approve: bool, by: str, comment: str | None = None
    ) -> Approval:
        """:meth:`decide` without blocking the event loop."""
        return await asyncio.to_thread(
            self.decide, approval_id, approve=approve, by=by, comment=comment
        )

    def require(self, *capabilities: Capability | str) -> None:
        try:
            super().require(*capabilities)
        except CapabilityNotSupportedError as exc:
            if Capability.VALIDATE in {Capability(c) for c in capabilities} and self.contracts is None:
                raise CapabilityNotSupportedError(
                    f"{exc.message} The local platform validates once it has contract files: pass "
                    "contracts='contracts/' or set GOVFLOW_CONTRACTS.",
                    platform=_NAME,
                ) from None
            raise

    # validation

    async def validate(
        self,
        contract_id: str,
        records: Iterable[dict[str, Any]],
        *,
        version: str | None = None,
        context: RunContext | None = None,
    ) -> ValidationReport:
        """Validate ``records`` against a local contract and record ``contract.validated``.

        ``contract_id`` is the contract's ``name`` (or a file stem; ``name@version`` pins);
        ``version=None`` is its highest version. The evidence record (in ``context``'s stream,
        else ``python/contracts``) carries the contract, its version and file digest, the
        counts and the records' digest, never the records.
        """
        if self.contracts is None:
            raise self._unsupported(Capability.VALIDATE)
        contracts = self.contracts
        events = list(records)

        def check() -> tuple[ValidationReport, LocalContract, str | None]:
            # Off the event loop: validating and hashing a large batch is CPU work.
            report, contract = contracts.validate(contract_id, events, version=version)
            try:
                return report, contract, digest(events)
            except CanonicalizationError:  # NaN, datetimes...: validated, just not digested
                return report, contract, None

        report, contract, input_digest = await asyncio.to_thread(check)
        kinds: dict[str, int] = {}
        for violation in report.violations:
            kinds[violation.kind] = kinds.get(violation.kind, 0) + 1
        if context is None:
            context = RunContext(
                orchestrator="python", pipeline="contracts", run_id=secrets.token_hex(8), step=contract.name
            )
        await self.ledger.aappend(
            context=context,
            event="contract.validated",
            outcome="passed" if report.passed else "failed",
            references={"platform": _NAME, "contract": contract.name, "contract_version": contract.version},
            input_digest=input_digest,
            details={
                "contract": contract.name,
                "contract_version": contract.version,
                "contract_digest": contract.digest,
                "contract_file": str(contract.path),
                "total": report.total,
                "failed": report.failed,
                "passed": report.total - report.failed,
                "violations": len(report.violations),
                "violation_kinds": kinds,
            },
        )
        return report

    # evidence

    async def record_evidence(self, record: Evidence, *, idempotency_key: str | None = None) -> str:
        """The ledger is this platform's evidence store: confirm the record is in it.

        Returns ``"stream#seq"``; NotFoundError if the ledger has no such record (or a different
        one at that position).
        """
        found = await asyncio.to_thread(
            self.ledger.records, record.stream, after_seq=record.seq - 1, limit=1
        )
        if not found or found[0].seq != record.seq or found[0].digest != record.digest:
            raise NotFoundError(
                f"evidence record {record.stream}#{record.seq} ({record.digest}) is not in the local "
                f"ledger at {db.display_url(self.database_url)}; append it with EvidenceLedger.append",
                platform=_NAME,
            )
        return f"{record.stream}#{record.seq}"


def _from_approval(approval: Approval, result: PolicyResult) -> tuple[DecisionOutcome, str | None]:
    rule = f"rule {result.rule!r}" if result.rule else "the policy default"
    if approval.status is ApprovalStatus.APPROVED:
        comment = f": {approval.comment}" if approval.comment else ""
        return (
            DecisionOutcome.ALLOW,
            f"approval {approval.id} approved by {approval.decided_by}{comment}",
        )
    if approval.status is ApprovalStatus.DENIED:
        comment = f": {approval.comment}" if approval.comment else ""
        return (
            DecisionOutcome.DENY,
            f"approval {approval.id} denied by {approval.decided_by}{comment}",
        )
    who = f" from one of {', '.join(approval.approvers)}" if approval.approvers else ""
    why = f" ({result.reason})" if result.reason else ""
    return (
        DecisionOutcome.PENDING,
        f"{rule} requires an approval{who}{why}; waiting on {approval.id}",
    )


__all__ = ["LocalPlatform", "new_decision_id"]
