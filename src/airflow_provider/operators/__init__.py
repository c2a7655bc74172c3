"""Airflow operators: governance gates per platform and data-contract validation."""

from .contract import ContractValidationOperator
from .gate import (
    GovernanceGateOperator,
    LatchGateExecuteOperator,
    LattixGateOperator,
    VelerianInvokeOperator,
)

__all__ = [
    "ContractValidationOperator",
    "GovernanceGateOperator",
    "LatchGateExecuteOperator",
    "LattixGateOperator",
    "VelerianInvokeOperator",
]
