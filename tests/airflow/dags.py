"""Helpers for Airflow tests (fixtures live in conftest.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any


def load_dag(path: Path, dag_id: str) -> Any:
    """Import a DAG file the way the DAG processor would and return the DAG called ``dag_id``."""
    from airflow.sdk import DAG

    spec = importlib.util.spec_from_file_location(f"govflow_test_dag_{dag_id}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for value in vars(module).values():
        if isinstance(value, DAG) and value.dag_id == dag_id:
            return value
    raise LookupError(f"{path} defines no DAG with dag_id {dag_id!r}")
