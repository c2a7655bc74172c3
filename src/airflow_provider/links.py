"""Extra links on govflow operators: where a task's governance record lives.

In Airflow 3 ``get_link`` runs on the worker when the task finalizes and the URL is stored in XCom
(orchestrators.md 1.7), so every link is computed from what the task pushed under
``govflow_decision`` and from its connection. A link that has nothing to point at is ``""``, which
the UI shows as no link; a link never fails the task.

Every link honours a connection extra ``evidence_url_template``: a ``str.format`` template over
``dag_id``, ``run_id``, ``task_id``, ``map_index``, ``try_number``, ``conn_id``, ``host`` and the
decision's ``decision_id``, ``approval_id``, ``platform`` and ``references`` (each reference also
by its own name, e.g. ``{receipt_id}``). Without one, Velerian and LatchGate links point at the
platform's own API for the record; the local platform has no web UI, so its link stays empty.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

logger = logging.getLogger("govflow.airflow.links")

DECISION_XCOM_KEY = "govflow_decision"
TEMPLATE_FIELD = "evidence_url_template"


def pull_decision(ti_key: Any) -> dict[str, Any]:
    """The decision the task pushed under ``govflow_decision``, or ``{}``."""
    value: Any = None
    try:
        pull = getattr(ti_key, "xcom_pull", None)  # the worker passes the RuntimeTaskInstance
        if pull is not None:
            value = pull(
                task_ids=ti_key.task_id, key=DECISION_XCOM_KEY, map_indexes=ti_key.map_index
            )
        else:
            from airflow.sdk.bases.xcom import BaseXCom

            value = BaseXCom.get_value(ti_key=ti_key, key=DECISION_XCOM_KEY)
    except Exception:  # a link must never fail the task
        logger.debug("govflow link: no decision in XCom", exc_info=True)
    return dict(value) if isinstance(value, Mapping) else {}


def _connection(conn_id: str | None) -> Any:
    if not conn_id:
        return None
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id)
    except Exception:
        return None


def _fields(operator: Any, ti_key: Any, decision: Mapping[str, Any], conn: Any) -> dict[str, Any]:
    references = decision.get("references") or {}
    fields: dict[str, Any] = {str(k): v for k, v in references.items()}
    fields.update(
        dag_id=getattr(ti_key, "dag_id", None),
        run_id=getattr(ti_key, "run_id", None),
        task_id=getattr(ti_key, "task_id", None),
        map_index=getattr(ti_key, "map_index", None),
        try_number=getattr(ti_key, "try_number", None),
        conn_id=getattr(operator, "conn_id", None),
        host=((getattr(conn, "host", None) or "") if conn is not None else "").rstrip("/"),
        decision_id=decision.get("decision_id"),
        approval_id=decision.get("approval_id"),
        platform=decision.get("platform"),
        references=references,
    )
    return fields


def render_template(template: str, fields: Mapping[str, Any]) -> str:
    """``template`` with ``fields``; values are URL-quoted, and a missing field yields ``""``."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    if any(fields.get(name) in (None, "") for name in names):
        return ""
    quoted = {
        k: quote(str(v), safe="") if isinstance(v, str | int) else v for k, v in fields.items()
    }
    if "host" in quoted:
        quoted["host"] = fields["host"]  # a base URL, kept as it is
    try:
        return template.format(**quoted)
    except (KeyError, IndexError, ValueError):
        return ""


class _DecisionLink(BaseOperatorLink):
    """A link computed from the task's ``govflow_decision`` XCom and its connection."""

    name = "Governance evidence"

    def default_link(self, fields: Mapping[str, Any]) -> str:
        return ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        try:
            decision = pull_decision(ti_key)
            if not decision:
                return ""
            conn = _connection(getattr(operator, "conn_id", None))
            fields = _fields(operator, ti_key, decision, conn)
            extra = getattr(conn, "extra_dejson", None) or {}
            template = extra.get(TEMPLATE_FIELD) if isinstance(extra, Mapping) else None
            if template:
                return render_template(str(template), fields)
            return self.default_link(fields)
        except Exception:  # never fail the task for a link
            logger.debug("govflow link %s not computed", self.name, exc_info=True)
            return ""


class GovernanceEvidenceLink(_DecisionLink):
    """The governance record of the task, from the connection's ``evidence_url_template``.

    The local platform keeps evidence in a database with no web UI, so without a template the
    link is empty (``govflow evidence list`` finds the records by run id).
    """

    name = "Governance evidence"


class VelerianEvidenceLink(_DecisionLink):
    """The Velerian evidence of the invocation (``/api/v2/abps/{abp}/invocations/{id}/evidence``)."""

    name = "Velerian evidence"

    def default_link(self, fields: Mapping[str, Any]) -> str:
        return render_template(
            "{host}/api/v2/abps/{abp_id}/invocations/{invocation_id}/evidence", fields
        )


class LatchGateReceiptLink(_DecisionLink):
    """The LatchGate execution receipt (``/v1/receipts/{receipt_id}`` on the gate)."""

    name = "LatchGate receipt"

    def default_link(self, fields: Mapping[str, Any]) -> str:
        return render_template("{host}/v1/receipts/{receipt_id}", fields)


__all__ = [
    "DECISION_XCOM_KEY",
    "GovernanceEvidenceLink",
    "LatchGateReceiptLink",
    "VelerianEvidenceLink",
    "pull_decision",
    "render_template",
]
