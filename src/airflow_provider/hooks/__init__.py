"""Airflow hooks, one connection type per governance platform."""

from .contractgate import ContractGateHook
from .latchgate import LatchGateHook
from .lattix import LattixHook
from .local import GovflowLocalHook
from .velerian import VelerianHook

__all__ = ["ContractGateHook", "GovflowLocalHook", "LatchGateHook", "LattixHook", "VelerianHook"]
