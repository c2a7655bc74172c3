"""The ``govflow`` command, in-process through ``main()`` and once through the installed script."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from govflow.core.cli import main
from govflow.core.evidence import EvidenceLedger
from govflow.core.models import GateRequest, RunContext
from govflow.core.platforms.local import LocalPlatform

POLICY = """\
version: 1
default: allow
rules:
  - name: no-public
    match: {action: publish, resource: "public/*"}
    decision: deny
    reason: public data is off limits
  - name: payouts
    match: {action: payout}
    decision: require_approval
    reason: money leaves the company
    approvers: [finance-lead]
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def context(run_id: str = "run-1", step: str = "pay") -> RunContext:
    return RunContext(orchestrator="python", pipeline="cli_test", run_id=run_id, step=step)


@pytest.fixture
def pending_approval(policy_file: Path, anyio_backend: str) -> str:
    import anyio

    async def ask() -> str:
        async with LocalPlatform(policy_file) as platform:
            decision = await platform.gate(context(), GateRequest(action="payout", resource="bank/1"))
            assert decision.pending and decision.approval_id
            return decision.approval_id

    return anyio.run(ask)


def test_approvals_list_show_and_approve(capsys: pytest.CaptureFixture[str], pending_approval: str) -> None:
    code, out, _ = run_cli(capsys, "approvals", "list")
    assert code == 0 and pending_approval in out and "cli_test" in out

    code, out, _ = run_cli(capsys, "approvals", "list", "--json")
    listed = json.loads(out)
    assert [a["id"] for a in listed] == [pending_approval]
    assert listed[0]["status"] == "pending"

    code, out, _ = run_cli(capsys, "approvals", "show", pending_approval)
    assert code == 0 and "finance-lead" in out and "money leaves the company" in out

    code, out, _ = run_cli(capsys, "approvals", "approve", pending_approval, "--as", "finance-lead", "-m", "checked", "--json")
    assert code == 0
    assert json.loads(out)["status"] == "approved"
    assert json.loads(out)["decided_by"] == "finance-lead"

    code, out, _ = run_cli(capsys, "approvals", "list")
    assert code == 0 and "No pending approvals" in out

    # The decision itself is evidence in the run's stream.
    code, out, _ = run_cli(capsys, "evidence", "list", "--json")
    events = [(r["event"], r["outcome"]) for r in json.loads(out)]
    assert ("approval.decided", "approved") in events


def test_approve_twice_is_a_conflict(capsys: pytest.CaptureFixture[str], pending_approval: str) -> None:
    assert run_cli(capsys, "approvals", "deny", pending_approval, "--as", "finance-lead")[0] == 0
    code, _, err = run_cli(capsys, "approvals", "approve", pending_approval, "--as", "finance-lead")
    assert code == 4
    assert pending_approval in err and "denied" in err


def test_only_listed_approvers_may_decide(capsys: pytest.CaptureFixture[str], pending_approval: str) -> None:
    code, _, err = run_cli(capsys, "approvals", "approve", pending_approval, "--as", "mallory")
    assert code == 5
    assert "mallory" in err


def test_unknown_approval_is_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "approvals", "show", "apr_doesnotexist")
    assert code == 3 and "apr_doesnotexist" in err


def _ledger_with_records(n: int = 4) -> EvidenceLedger:
    ledger = EvidenceLedger()
    for i in range(n):
        ledger.append(context=context(step=f"s{i}"), event="step.finished", outcome="success")
    return ledger


def test_evidence_list_show_verify_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _ledger_with_records()
    code, out, _ = run_cli(capsys, "evidence", "list")
    assert code == 0 and out.count("step.finished") == 4

    code, out, _ = run_cli(capsys, "evidence", "show", "python/cli_test#2", "--json")
    record = json.loads(out)
    assert record["seq"] == 2 and record["context"]["step"] == "s1"

    code, out, _ = run_cli(capsys, "evidence", "show", record["digest"][7:20])
    assert code == 0 and record["digest"] in out

    code, out, _ = run_cli(capsys, "evidence", "verify")
    assert code == 0 and "OK: 4 records" in out

    export = tmp_path / "export.jsonl"
    code, _, _ = run_cli(capsys, "evidence", "export", "-o", str(export))
    assert code == 0
    code, out, _ = run_cli(capsys, "evidence", "verify", "--file", str(export))
    assert code == 0 and "OK" in out

    # Change one exported body: the offline verifier names the record.
    lines = export.read_text().splitlines()
    tampered = [line.replace('"s2"', '"s9"') for line in lines]
    assert tampered != lines
    export.write_text("\n".join(tampered) + "\n")
    code, _, err = run_cli(capsys, "evidence", "verify", "--file", str(export))
    assert code == 1
    assert "#3" in err


def test_evidence_verify_names_changed_record(capsys: pytest.CaptureFixture[str], _isolated_govflow_home: Path) -> None:
    _ledger_with_records()
    database = _isolated_govflow_home / "govflow.db"
    with sqlite3.connect(database) as conn:
        tables = [row[0] for row in conn.execute("select name from sqlite_master where type='table'")]
        table = next(t for t in tables if "record" in t or "evidence" in t)
        columns = [row[1] for row in conn.execute(f"pragma table_info({table})")]
        body = next(c for c in columns if c in ("body", "body_json", "canonical"))
        conn.execute(f"update {table} set {body} = replace({body}, '\"success\"', '\"failed\"') where seq = 2")
    code, _, err = run_cli(capsys, "evidence", "verify", "--json")
    assert code == 1
    code, _, err = run_cli(capsys, "evidence", "verify")
    assert code == 1 and "BROKEN" in err and "#2" in err


def test_evidence_show_unknown_is_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    _ledger_with_records(1)
    assert run_cli(capsys, "evidence", "show", "python/cli_test#99")[0] == 3


def test_policy_check_ok_and_explain(capsys: pytest.CaptureFixture[str], policy_file: Path) -> None:
    code, out, _ = run_cli(capsys, "policy", "check", str(policy_file))
    assert code == 0 and "2 rules" in out

    request = json.dumps({"action": "publish", "resource": "public/x.csv"})
    code, out, _ = run_cli(capsys, "policy", "check", str(policy_file), "--explain", request)
    assert code == 0
    assert "no-public" in out and "decision: deny" in out and "public data is off limits" in out

    request = json.dumps({"action": "payout"})
    code, out, _ = run_cli(capsys, "policy", "check", str(policy_file), "--explain", request, "--json")
    explained = json.loads(out)
    assert explained["decision"]["decision"] == "require_approval"
    assert [r["matched"] for r in explained["rules"]] == [False, True]


def test_policy_check_bad_file_names_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    match: {action: a}\n    decision: maybe\n")
    code, _, err = run_cli(capsys, "policy", "check", str(bad))
    assert code == 1
    assert f"{bad}:4" in err


def test_policy_explain_needs_an_action(capsys: pytest.CaptureFixture[str], policy_file: Path) -> None:
    code, _, err = run_cli(capsys, "policy", "check", str(policy_file), "--explain", '{"resource": "x"}')
    assert code == 6 and '"action"' in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["approvals", "frobnicate"])
    assert exited.value.code == 2


def test_console_script_runs(tmp_path: Path) -> None:
    script = shutil.which("govflow", path=str(Path(sys.executable).parent))
    assert script, "the govflow console script is not installed next to this interpreter"
    env = {**os.environ, "GOVFLOW_HOME": str(tmp_path)}
    result = subprocess.run([script, "evidence", "verify"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "OK: 0 records" in result.stdout
    result = subprocess.run([script, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert "exit codes" in result.stdout


def test_evidence_outbox_lists_and_retries(capsys: pytest.CaptureFixture[str]) -> None:
    ledger = EvidenceLedger()
    ledger.append(context=context(), event="step.finished", outcome="success", forward_to=["lattix"])
    code, out, _ = run_cli(capsys, "evidence", "outbox")
    assert code == 0 and "lattix" in out and "pending" in out and "python/cli_test#1" in out
    code, out, _ = run_cli(capsys, "evidence", "outbox", "--json", "--status", "delivered")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run_cli(capsys, "evidence", "outbox", "--retry-now")
    assert code == 0 and out.startswith("1 pending record due now")
