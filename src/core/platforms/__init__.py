"""Platform clients. Each platform lives in its own subpackage; :mod:`.base` is their interface."""

from .base import Capability, Platform

__all__ = ["Capability", "Platform"]
