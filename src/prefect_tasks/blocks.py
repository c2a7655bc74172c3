"""Prefect credential blocks: one per governance platform, each building the core async Platform.

Register them with ``prefect block register -m govflow.prefect_tasks`` (a server with govflow
installed also registers them through the ``prefect.collections`` entry point). Secrets are
``SecretStr``; they are unwrapped only when the platform is built. No HTTP logic lives here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

if TYPE_CHECKING:
    from ..core.platforms.base import Platform
    from ..core.platforms.contractgate import ContractGatePlatform
    from ..core.platforms.latchgate import LatchGatePlatform
    from ..core.platforms.lattix import LattixPlatform
    from ..core.platforms.local import LocalPlatform
    from ..core.platforms.velerian import VelerianPlatform

_DOCS = "https://github.com/govflow/govflow"


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


class GovflowPlatformBlock(Block):
    """Base: a block that describes one governance platform (not registered itself)."""

    _documentation_url = _DOCS

    def get_platform(self) -> Platform:
        """The core async platform, configured from this block; use it with ``async with``."""
        raise NotImplementedError


class GovflowLocalPlatform(GovflowPlatformBlock):
    """govflow's own platform: a YAML policy and a SQL ledger (SQLite or Postgres)."""

    _block_type_name = "Govflow Local Platform"
    _block_type_slug = "govflow-local-platform"
    _description = "A local govflow policy file and evidence ledger."

    policy: str | None = Field(default=None, description="Path of the policy YAML file.")
    database_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL of the ledger (may hold a password)."
    )
    contracts: str | None = Field(default=None, description="Directory of data contracts.")

    def get_platform(self) -> LocalPlatform:
        from ..core.platforms.local import LocalPlatform

        return LocalPlatform(
            self.policy, database_url=_secret(self.database_url), contracts=self.contracts
        )


class VelerianCredentials(GovflowPlatformBlock):
    """Velerian: gates are ABP invocations."""

    _block_type_name = "Velerian Credentials"
    _block_type_slug = "velerian-credentials"
    _description = "API key and ABP routing for Velerian."

    base_url: str | None = Field(default=None, description="Velerian API base URL.")
    api_key: SecretStr | None = Field(default=None, description="Velerian API key.")
    abp_id: str | None = Field(default=None, description="Default ABP to invoke for a gate.")
    abps: dict[str, str] = Field(default_factory=dict, description="Action -> ABP id.")
    timeout: float = 30.0

    def get_platform(self) -> VelerianPlatform:
        from ..core.platforms.velerian import VelerianPlatform

        return VelerianPlatform(
            abp_id=self.abp_id,
            abps=dict(self.abps),
            api_key=_secret(self.api_key),
            base_url=self.base_url,
            timeout=self.timeout,
        )


class LattixCredentials(GovflowPlatformBlock):
    """Lattix: a bearer token or OAuth client credentials."""

    _block_type_name = "Lattix Credentials"
    _block_type_slug = "lattix-credentials"
    _description = "Bearer token or client credentials for Lattix."

    base_url: str | None = None
    bearer_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    tenant_id: str | None = None
    user_id: str | None = None
    decision: str = "policy_resolve"
    timeout: float = 30.0

    def get_platform(self) -> LattixPlatform:
        from ..core.platforms.lattix import LattixPlatform

        options: dict[str, Any] = {
            "base_url": self.base_url,
            "tenant_id": self.tenant_id,
            "user_id": self.user_id,
            "timeout": self.timeout,
        }
        # Only what the block holds, so an empty block still falls back to LATTIX_* variables.
        credentials = {
            "bearer_token": _secret(self.bearer_token),
            "client_id": self.client_id,
            "client_secret": _secret(self.client_secret),
        }
        options.update({k: v for k, v in credentials.items() if v is not None})
        return LattixPlatform(decision=self.decision, **options)


class LatchGateCredentials(GovflowPlatformBlock):
    """LatchGate: a gate URL or unix socket (no secret: DPoP keys are made per session)."""

    _block_type_name = "LatchGate Credentials"
    _block_type_slug = "latchgate-credentials"
    _description = "Where LatchGate listens, and the public URL DPoP proofs are signed for."

    base_url: str | None = None
    socket: str | None = None
    public_base_url: str | None = None
    agent_id: str | None = None
    actions: dict[str, str] = Field(default_factory=dict, description="Action -> LatchGate action.")
    timeout: float = 30.0

    def get_platform(self) -> LatchGatePlatform:
        from ..core.platforms.latchgate import LatchGatePlatform

        return LatchGatePlatform(
            actions=dict(self.actions),
            socket=self.socket,
            base_url=self.base_url,
            public_base_url=self.public_base_url,
            agent_id=self.agent_id,
            timeout=self.timeout,
        )


class ContractGateCredentials(GovflowPlatformBlock):
    """ContractGate: data-contract validation."""

    _block_type_name = "ContractGate Credentials"
    _block_type_slug = "contractgate-credentials"
    _description = "API key for ContractGate."

    base_url: str | None = None
    api_key: SecretStr | None = None
    dry_run: bool = False
    atomic: bool = False
    timeout: float = 30.0

    def get_platform(self) -> ContractGatePlatform:
        from ..core.platforms.contractgate import ContractGatePlatform

        return ContractGatePlatform(
            dry_run=self.dry_run,
            atomic=self.atomic,
            api_key=_secret(self.api_key),
            base_url=self.base_url,
            timeout=self.timeout,
        )


__all__ = [
    "ContractGateCredentials",
    "GovflowLocalPlatform",
    "GovflowPlatformBlock",
    "LatchGateCredentials",
    "LattixCredentials",
    "VelerianCredentials",
]
