"""Data contracts as Dagster asset checks.

:func:`contract_asset_check` loads the asset's value (through its IO manager), validates its
records with the resource under ``resource_key`` (ContractGate remotely, or the local platform's
validator when it has contracts) and reports the counts and the first violations as check
metadata. ``blocking=True`` stops downstream assets of the same run when the check fails.
"""
# No `from __future__ import annotations`: Dagster reads the context annotations at definition time.

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg

from ..core.models import ValidationReport
from .resources import GovflowResource

# Violations shown in the check's metadata; the report's counts cover them all.
SHOWN_VIOLATIONS = 5


def records_of(value: Any) -> list[dict[str, Any]]:
    """The records of an asset value: a list of mappings, one mapping, or a DataFrame."""
    if isinstance(value, Mapping):
        return [dict(value)]
    if hasattr(value, "columns") and callable(getattr(value, "to_dict", None)):  # a DataFrame
        value = value.to_dict("records")
    if not isinstance(value, Iterable) or isinstance(value, str | bytes):
        raise TypeError(
            f"contract checks validate records (mappings); the asset's value is a {type(value).__name__}"
        )
    return [dict(record) for record in value]


def check_metadata(report: ValidationReport, max_failed: int) -> dict[str, Any]:
    """The check's metadata: counts, thresholds and the first few violations."""
    shown = [
        {"index": r.index, "field": v.field, "kind": v.kind, "message": v.message}
        for r in report.records
        if not r.passed
        for v in r.violations
    ][:SHOWN_VIOLATIONS]
    return {
        "contract_id": report.contract_id,
        "contract_version": report.contract_version or "",
        "platform": report.platform,
        "records": report.total,
        "failed": report.failed,
        "passed": report.total - report.failed,
        "max_failed": max_failed,
        "violations": dg.MetadataValue.json(shown),
    }


def contract_asset_check(
    asset: Any,
    contract_id: str,
    *,
    resource_key: str = "govflow",
    blocking: bool = False,
    max_failed: int = 0,
    version: str | None = None,
    name: str | None = None,
    description: str | None = None,
) -> dg.AssetChecksDefinition:
    """An asset check that validates ``asset``'s records against contract ``contract_id``.

    It passes when at most ``max_failed`` records fail. Each evaluation has a
    ``contract.validated`` evidence record (the local platform writes its own; for others the
    check writes it), referenced in the check's metadata.
    """
    check_name = name or f"contract_{contract_id}".replace("-", "_").replace(".", "_")

    @dg.asset_check(
        asset=asset,
        name=check_name,
        blocking=blocking,
        required_resource_keys={resource_key},
        description=description
        or f"Records satisfy data contract {contract_id!r} (at most {max_failed} may fail).",
    )
    def _check(context: dg.AssetCheckExecutionContext, records: Any) -> dg.AssetCheckResult:
        governance: GovflowResource = getattr(context.resources, resource_key)
        report = governance.validate(contract_id, records_of(records), version=version, context=context)
        passed = report.failed <= max_failed
        metadata = check_metadata(report, max_failed)
        record = governance.validation_evidence(
            context,
            report,
            "passed" if passed else "failed",
            {k: v for k, v in metadata.items() if k != "violations"},
        )
        if record is not None:
            metadata["govflow/evidence"] = f"govflow evidence show {record.stream}#{record.seq}"
        context.log.info(
            f"contract {report.contract_id}: {report.failed}/{report.total} records failed "
            f"(max_failed={max_failed}) -> {'passed' if passed else 'failed'}"
        )
        return dg.AssetCheckResult(
            passed=passed,
            metadata=metadata,
            description=None
            if passed
            else f"{report.failed}/{report.total} records violate contract {report.contract_id}",
        )

    return _check


__all__ = ["check_metadata", "contract_asset_check", "records_of"]
