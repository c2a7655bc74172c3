"""``ContractValidationOperator``: validate records against a data contract and fail over a threshold.

Works with any platform that validates: ``govflow_local`` (contracts from the connection extra
``contracts``) and ContractGate (remote ingest; the gateway quarantines failed records itself).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from ...core.errors import GovflowError
from ...core.models import ValidationReport
from ..hooks._base import run_sync
from ..links import GovernanceEvidenceLink
from ..triggers.approval import platform_from_conn_id
from .gate import run_context


def violation_summary(report: ValidationReport) -> str:
    """``"3 missing_field, 1 pattern"``: the kinds of violation, most frequent first."""
    kinds = Counter(violation.kind for violation in report.violations)
    return ", ".join(f"{count} {kind}" for kind, count in kinds.most_common()) or "none"


class ContractValidationOperator(BaseOperator):
    """Validate ``records`` (a list of dicts, or an XCom pulled with Jinja) against ``contract_id``.

    The report (JSON) is the task's return value. The task fails (no retries: the data will not
    change) when more than ``max_failed`` records fail, or, with ``max_failed_ratio``, when the
    failed share exceeds it.
    """

    template_fields: Sequence[str] = ("contract_id", "records", "version")
    operator_extra_links = (GovernanceEvidenceLink(),)
    ui_color = "#e3f2e1"

    def __init__(
        self,
        *,
        contract_id: str,
        records: Any,
        version: str | None = None,
        conn_id: str = "govflow_local_default",
        max_failed: int = 0,
        max_failed_ratio: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_failed_ratio is not None and not 0.0 <= max_failed_ratio <= 1.0:
            raise ValueError("max_failed_ratio must be between 0 and 1")
        self.contract_id = contract_id
        self.records = records
        self.version = version
        self.conn_id = conn_id
        self.max_failed = max_failed
        self.max_failed_ratio = max_failed_ratio

    def _records(self) -> list[dict[str, Any]]:
        records = self.records
        if isinstance(records, str):  # a Jinja-rendered XCom without render_template_as_native_obj
            import json

            records = json.loads(records)
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list | tuple) or not all(isinstance(r, dict) for r in records):
            raise AirflowFailException(
                f"records must be a list of JSON objects, got {type(records).__name__}"
            )
        return list(records)

    def over_threshold(self, report: ValidationReport) -> bool:
        if self.max_failed_ratio is not None:
            return report.total > 0 and report.failed / report.total > self.max_failed_ratio
        return report.failed > self.max_failed

    def execute(self, context: Any) -> dict[str, Any]:
        records = self._records()
        ctx = run_context(context, self)
        platform = platform_from_conn_id(self.conn_id)

        async def go() -> ValidationReport:
            async with platform:
                return await platform.validate(
                    self.contract_id, records, version=self.version, context=ctx
                )

        try:
            report = run_sync(go())
        except GovflowError as exc:
            raise AirflowException(f"contract {self.contract_id}: {exc}") from exc
        result = report.model_dump(mode="json", exclude={"raw"})
        summary = (
            f"contract {report.contract_id}"
            f"{' v' + report.contract_version if report.contract_version else ''}: "
            f"{report.failed}/{report.total} records failed ({violation_summary(report)})"
        )
        if self.over_threshold(report):
            limit = (
                f"max_failed_ratio={self.max_failed_ratio}"
                if self.max_failed_ratio is not None
                else f"max_failed={self.max_failed}"
            )
            raise AirflowFailException(f"{summary}; over the threshold {limit}")
        self.log.info("%s", summary)
        return result


__all__ = ["ContractValidationOperator", "violation_summary"]
