"""ContractGate as a govflow platform: ``validate`` is an ingest, or govflow's local validator."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ...errors import ConfigurationError, NotFoundError
from ...models import RunContext, ValidationReport
from ..base import Capability, Platform
from ._client import ContractGateClient, split_pin
from ._local import CONTRACTS_ENV, LocalContracts
from ._models import PLATFORM, IngestResult

logger = logging.getLogger("govflow.contractgate")


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class ContractGatePlatform(Platform):
    """Validate pipeline records against ContractGate data contracts.

    ```python
    async with ContractGatePlatform() as cg:                  # remote: CONTRACTGATE_* from the env
        report = await cg.validate("user_events", rows)       # a name or the contract's UUID
    async with ContractGatePlatform(local=True, contracts="contracts/") as cg:
        report = await cg.validate("user_events", rows)       # no network
    ```

    **Remote** (the default): ``validate`` ingests the records (``POST /v1/ingest``), split into
    batches the gateway accepts. ``dry_run=False`` by default, because a validation step in a
    pipeline is the gateway's ingest point: passing events are stored and forwarded, failing
    ones quarantined for review and replay, and the audit log shows the run. Pass
    ``dry_run=True`` to check without recording anything; ``atomic=True`` to store nothing
    when any record fails (one request at most, so at most 1000 records). Each call uses one
    idempotency key, so the client's retries never store a batch twice. ``contract_id`` is the
    contract's UUID or its name (looked up once with ``GET /contracts``), ``"id@version"`` or
    ``version=`` pins a version. The report's ``contract_version`` is the batch's resolved
    version; per-event versions (they differ under fallback), quarantine ids and the gateway's
    answers are in ``report.raw``.

    **Local** (``local=True``, or ``contracts=`` given): the records are checked by govflow's
    validator against contract files (``contracts`` or ``GOVFLOW_CONTRACTS``), with the rules
    the gateway applies (see docs/platforms/contractgate.md); nothing is sent or stored.

    Violations keep the gateway's ``kind`` strings, including kinds govflow does not know yet.
    A batch pinned to a deprecated version reports every record failed with one
    ``deprecated_contract_version`` violation (the gateway quarantined them unvalidated).
    """

    name = PLATFORM
    capabilities = frozenset({Capability.VALIDATE})

    def __init__(
        self,
        client: ContractGateClient | None = None,
        *,
        dry_run: bool = False,
        atomic: bool = False,
        local: bool = False,
        contracts: str | Path | Sequence[str | Path] | LocalContracts | None = None,
        **client_options: Any,
    ) -> None:
        if client is not None and client_options:
            raise ConfigurationError(
                f"pass either a ContractGateClient or client options ({', '.join(client_options)}), not both",
                platform=PLATFORM,
            )
        self.dry_run = dry_run
        self.atomic = atomic
        self.local = local or contracts is not None
        self.contracts: LocalContracts | None = None
        self.client: ContractGateClient | None = None
        self._owns_client = False
        self._ids: dict[str, str] = {}
        if self.local:
            if client is not None or client_options:
                raise ConfigurationError(
                    "local validation needs contract files, not a ContractGate client: drop "
                    "local=True/contracts=..., or the client",
                    platform=PLATFORM,
                )
            self.contracts = LocalContracts.coerce(contracts, platform=PLATFORM)
            if self.contracts is None:
                raise ConfigurationError(
                    f"local=True needs contract files: pass contracts='contracts/' or set {CONTRACTS_ENV}",
                    platform=PLATFORM,
                )
        else:
            self._owns_client = client is None
            self.client = client if client is not None else ContractGateClient(**client_options)

    def __repr__(self) -> str:
        if self.contracts is not None:
            return f"ContractGatePlatform(local=True, contracts={self.contracts!r})"
        assert self.client is not None
        return (
            f"ContractGatePlatform(base_url={self.client.base_url!r}, dry_run={self.dry_run!r}, "
            f"atomic={self.atomic!r})"
        )

    async def validate(
        self,
        contract_id: str,
        records: Iterable[dict[str, Any]],
        *,
        version: str | None = None,
        context: RunContext | None = None,
    ) -> ValidationReport:
        """Validate ``records``; see the class docstring. ``context`` is only logged here."""
        events = list(records)
        if self.contracts is not None:
            report, _ = self.contracts.validate(contract_id, events, version=version)
            return report
        assert self.client is not None
        contract, pin = split_pin(contract_id, version)
        contract = await self.resolve_contract(contract)
        if not events:
            return ValidationReport(contract_id=contract, contract_version=pin, platform=PLATFORM, raw=[])
        results = await self.client.ingest_batches(
            contract, events, version=pin, dry_run=self.dry_run, atomic=self.atomic
        )
        if context is not None:
            logger.debug(
                "%s/%s %s: ingested %d records into %s: %d failed",
                context.pipeline,
                context.run_id,
                context.step,
                len(events),
                contract,
                sum(r.failed for r in results),
            )
        return report_from_ingest(contract, results, pin)

    async def resolve_contract(self, contract: str) -> str:
        """A contract's UUID from its UUID or its name (names are looked up once, then cached)."""
        if is_uuid(contract):
            return contract
        if contract not in self._ids:
            assert self.client is not None
            found = await self.client.find_contract(contract)
            if found is None:
                raise NotFoundError(
                    f"no ContractGate contract named {contract!r} is visible to this key; pass its UUID "
                    "or check the name with list_contracts()",
                    platform=PLATFORM,
                )
            self._ids[contract] = found.id
        return self._ids[contract]

    async def aclose(self) -> None:
        if self._owns_client and self.client is not None:
            await self.client.aclose()


def report_from_ingest(
    contract_id: str, results: Sequence[IngestResult], version: str | None = None
) -> ValidationReport:
    """One govflow report for the answers of one or more ingest requests."""
    records = [record for result in results for record in result.records()]
    resolved = [r.resolved_version for r in results if r.resolved_version]
    contract_version = resolved[0] if resolved else version
    raw = [
        {
            **(result.raw if isinstance(result.raw, dict) else {}),
            "offset": result.offset,
            "status_code": result.status_code,
            "replayed": result.replayed,
            "idempotency_key": result.idempotency_key,
        }
        for result in results
    ]
    return ValidationReport(
        contract_id=contract_id,
        contract_version=contract_version,
        records=records,
        platform=PLATFORM,
        raw=raw,
    )


__all__ = ["ContractGatePlatform", "is_uuid", "report_from_ingest"]
