"""Airflow sensors: wait for a govflow approval, deferrable by default."""

from __future__ import annotations

from .approval import ApprovalDenied, ApprovalSensor

__all__ = ["ApprovalDenied", "ApprovalSensor"]
