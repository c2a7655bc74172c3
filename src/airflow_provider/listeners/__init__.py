"""Airflow listeners shipped by govflow (registered by :class:`~..plugin.GovflowPlugin`)."""

from __future__ import annotations

from .evidence import EvidenceListener, get_evidence_listener

__all__ = ["EvidenceListener", "get_evidence_listener"]
