"""``ApprovalSensor``: wait for a human decision on a govflow approval.

Deferrable by default, so no worker slot is held while a human decides (DESIGN section 4); with
``deferrable=False`` it pokes the platform once per poke instead. Approved: the approval (as JSON)
is the task's XCom. Denied: the task fails without retries, whatever ``soft_fail`` says. Expired
or timed out: :class:`AirflowSensorTimeout`, which ``soft_fail`` turns into a skip.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from ...core.errors import GovflowError, RateLimitError, TransportError, UnavailableError
from ...core.models import ApprovalStatus
from ...core.sync import syncify
from ..triggers.approval import ApprovalTrigger, approval_event, build_platform

# Errors that mean "ask again later", as in govflow.core.approvals.
_TRANSIENT = (UnavailableError, TransportError, RateLimitError)


class ApprovalDenied(AirflowFailException):
    """A human denied the approval: the task fails and is not retried."""


class ApprovalSensor(BaseSensorOperator):
    """Wait until approval ``approval_id`` is decided on the platform ``platform`` describes.

    ``platform`` is a JSON-able spec (``{"kind": "local", "database_url": ..., "policy": ...}``);
    ``conn_id`` names an Airflow connection instead (needs the govflow connection hooks).
    ``poll_interval``/``max_poll`` drive the trigger's backoff; in poke mode ``poke_interval`` rules.
    """

    template_fields: Sequence[str] = ("approval_id",)
    ui_color = "#f4e4c1"

    def __init__(
        self,
        *,
        approval_id: str,
        platform: Mapping[str, Any] | None = None,
        conn_id: str | None = None,
        poll_interval: float = 5.0,
        max_poll: float = 60.0,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (platform is None) == (conn_id is None):
            raise ValueError("ApprovalSensor needs exactly one of platform= and conn_id=")
        self.approval_id = approval_id
        self.platform = dict(platform) if platform is not None else {"conn_id": conn_id}
        self.poll_interval = poll_interval
        self.max_poll = max_poll
        self.deferrable = deferrable

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return _keep_denial(lambda: super(ApprovalSensor, self).execute(context))
        # An absolute deadline lets a restarted triggerer continue the same wait.
        trigger = ApprovalTrigger(
            self.approval_id,
            self.platform,
            poll_interval=self.poll_interval,
            max_poll=self.max_poll,
            deadline=time.time() + self.timeout,
        )
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(
                seconds=self.timeout
            ),  # the sensor's timeout is not applied on deferral
        )

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any
    ) -> Any:
        return _keep_denial(
            lambda: super(ApprovalSensor, self).resume_execution(next_method, next_kwargs, context)
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        if not event:
            raise AirflowException(f"approval {self.approval_id}: the trigger sent no event")
        return _outcome(event)

    def poke(self, context: Any) -> bool | PokeReturnValue:
        platform = syncify(build_platform(self.platform))
        try:
            approval = platform.get_approval(self.approval_id)
        except _TRANSIENT as exc:
            # A platform briefly down does not end the wait; the sensor's timeout does.
            self.log.warning("approval %s: %s; poking again", self.approval_id, exc)
            return False
        except GovflowError as exc:
            raise AirflowException(f"approval {self.approval_id}: {exc}") from exc
        finally:
            platform.close()
        if approval.status is ApprovalStatus.PENDING:
            self.log.info("approval %s is still pending", self.approval_id)
            return False
        return PokeReturnValue(
            is_done=True,
            xcom_value=_outcome(approval_event(approval.status.value, approval.id, approval)),
        )


def _outcome(event: Mapping[str, Any]) -> dict[str, Any]:
    """The approval (JSON) for an approved event; otherwise the exception the event stands for."""
    status = event.get("status")
    approval_id = event.get("approval_id")
    approval = event.get("approval") or {}
    message = event.get("message")
    if status == "approved":
        return dict(approval)
    if status == "denied":
        who = approval.get("decided_by") or "an approver"
        comment = approval.get("comment") or "no comment"
        raise ApprovalDenied(f"approval {approval_id} was denied by {who}: {comment}")
    if status in ("expired", "timeout"):
        raise AirflowSensorTimeout(message or f"approval {approval_id} {status}")
    raise AirflowException(message or f"approval {approval_id} ended as {status!r}")


def _keep_denial(call: Any) -> Any:
    # BaseSensorOperator turns any failure into a skip under soft_fail/never_fail; a denial is a
    # decision, not a flaky sensor, so it must still fail the task.
    try:
        return call()
    except AirflowSkipException as exc:
        if isinstance(exc.__cause__, ApprovalDenied):
            raise exc.__cause__ from None
        raise


__all__ = ["ApprovalDenied", "ApprovalSensor"]
