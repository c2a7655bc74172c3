"""The credential blocks: saved and loaded through a Prefect API server, secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from govflow.prefect_tasks import (
    ContractGateCredentials,
    GovflowLocalPlatform,
    LatchGateCredentials,
    LattixCredentials,
    VelerianCredentials,
)

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_blocks_round_trip_with_secrets(tmp_path: Path) -> None:
    VelerianCredentials(
        base_url="http://velerian.test", api_key="vk-secret", abp_id="abp-1", abps={"pay": "abp-2"}
    ).save("vel", overwrite=True)
    loaded = VelerianCredentials.load("vel")
    assert isinstance(loaded.api_key, SecretStr)
    assert "vk-secret" not in repr(loaded)
    assert loaded.api_key.get_secret_value() == "vk-secret"
    assert loaded.abps == {"pay": "abp-2"}

    LattixCredentials(
        base_url="http://lattix.test", client_id="cid", client_secret="cs", tenant_id="t1"
    ).save("lat", overwrite=True)
    lattix = LattixCredentials.load("lat")
    assert isinstance(lattix.client_secret, SecretStr)
    assert lattix.client_secret.get_secret_value() == "cs"

    db = f"sqlite:///{tmp_path / 'gov.db'}"
    GovflowLocalPlatform(policy="p.yaml", database_url=db).save("loc", overwrite=True)
    local = GovflowLocalPlatform.load("loc")
    assert local.database_url is not None and local.database_url.get_secret_value() == db

    ContractGateCredentials(base_url="http://cg.test", api_key="ck").save("cg", overwrite=True)
    assert ContractGateCredentials.load("cg").api_key.get_secret_value() == "ck"  # type: ignore[union-attr]
    LatchGateCredentials(base_url="http://lg.test", public_base_url="http://lg.test").save(
        "lg", overwrite=True
    )
    assert LatchGateCredentials.load("lg").public_base_url == "http://lg.test"


def test_get_platform_builds_core_platforms(tmp_path: Path) -> None:
    from govflow.core.platforms.contractgate import ContractGatePlatform
    from govflow.core.platforms.lattix import LattixPlatform
    from govflow.core.platforms.local import LocalPlatform
    from govflow.core.platforms.velerian import VelerianPlatform

    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\ndefault: allow\nrules: []\n")
    local = GovflowLocalPlatform(
        policy=str(policy), database_url=f"sqlite:///{tmp_path / 'g.db'}"
    ).get_platform()
    assert isinstance(local, LocalPlatform)
    vel = VelerianCredentials(base_url="http://v.test", api_key="k", abp_id="a").get_platform()
    assert isinstance(vel, VelerianPlatform)
    lat = LattixCredentials(base_url="http://l.test", bearer_token="t").get_platform()
    assert isinstance(lat, LattixPlatform)
    cg = ContractGateCredentials(
        base_url="http://c.test", api_key="cg_live_" + "0" * 48
    ).get_platform()
    assert isinstance(cg, ContractGatePlatform)


@pytest.mark.slow
def test_prefect_block_register_finds_every_block() -> None:
    """`prefect block register -m govflow.prefect_tasks` against the test server registers all
    five block types (and not the abstract base)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    prefect_cli = Path(sys.executable).with_name("prefect")
    done = subprocess.run(
        [str(prefect_cli), "block", "register", "-m", "govflow.prefect_tasks"],
        env={**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with get_client(sync_client=True) as client:
        slugs = {block_type.slug for block_type in client.read_block_types()}
    assert {
        "govflow-local-platform",
        "velerian-credentials",
        "lattix-credentials",
        "latchgate-credentials",
        "contractgate-credentials",
    } <= slugs
    assert "govflow-platform-block" not in slugs
