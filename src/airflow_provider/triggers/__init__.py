"""Airflow triggers: the async, serialisable halves of govflow's deferrable operators."""

from __future__ import annotations

from .approval import ApprovalTrigger, build_platform

__all__ = ["ApprovalTrigger", "build_platform"]
