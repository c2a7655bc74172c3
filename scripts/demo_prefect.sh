#!/usr/bin/env bash
# The governed-payouts flow (example_dags/prefect_governed_flow.py) run by Prefect, with a person
# approving the payout through the govflow CLI while the flow run is paused. Run by `make demo`
# through `nox -s demo_prefect`, which puts an environment with govflow[prefect] first on PATH and
# sets PREFECT_HOME and GOVFLOW_HOME to temporary directories. Run by hand, it needs the same PATH
# and uses .demo-prefect/ for whatever is not set.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
stream="prefect/governed-payouts"

export PREFECT_HOME="${PREFECT_HOME:-$root/.demo-prefect/prefect}"
export GOVFLOW_HOME="${GOVFLOW_HOME:-$root/.demo-prefect/govflow}"
export PREFECT_SERVER_ANALYTICS_ENABLED="${PREFECT_SERVER_ANALYTICS_ENABLED:-false}"
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-120}"

for tool in govflow python; do
  command -v "$tool" >/dev/null || { echo "demo_prefect: '$tool' is not on PATH (run: nox -s demo_prefect)" >&2; exit 1; }
done

rm -rf "$GOVFLOW_HOME"
mkdir -p "$GOVFLOW_HOME" "$PREFECT_HOME"
log="$GOVFLOW_HOME/flow.log"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() {
  echo "demo_prefect: $*" >&2
  if [ -s "$log" ]; then echo "--- last lines of $log ---" >&2; tail -n 60 "$log" >&2; fi
  exit 1
}

say "1. The governed-payouts flow runs (in the background; Prefect starts a temporary API server)"
python example_dags/prefect_governed_flow.py >"$log" 2>&1 &
flow_pid=$!
trap 'kill "$flow_pid" 2>/dev/null || true' EXIT

# A second process acts as the finance lead on call: wait for the payout's approval request.
approval=""
for _ in $(seq 1 360); do
  approval=$(govflow approvals list --status pending --json 2>/dev/null \
    | python -c 'import json,sys; a=json.load(sys.stdin); print(a[0]["id"] if a else "")' || true)
  [ -n "$approval" ] && break
  kill -0 "$flow_pid" 2>/dev/null || break
  sleep 0.5
done
[ -n "$approval" ] || fail "the flow never asked for the payout approval"
grep -q "Pausing flow" "$log" 2>/dev/null || sleep 2

say "2. The flow run is paused; a finance lead approves (another process, through the CLI)"
govflow approvals show "$approval"
govflow approvals approve "$approval" --as finance-lead --comment "Batch 42 checked against the purchase events"

say "3. The flow run resumes by itself and finishes"
flow_rc=0
wait "$flow_pid" || flow_rc=$?
trap - EXIT
grep -E "^(extract|publish|validate|payout): |paid out|Pausing|Resuming|Finished in state" "$log" \
  | sed -E 's/^[0-9:.]+ \| [A-Z]+ +\| //' | cut -c1-200 || true
[ "$flow_rc" -eq 0 ] || fail "the flow exited with $flow_rc"

say "4. The evidence chain of $stream"
govflow evidence list --stream "$stream"

say "5. Verification"
govflow evidence verify || fail "the evidence chain does not verify"

say "6. Checking the task outcomes the hooks recorded"
govflow evidence list --stream "$stream" --json >"$GOVFLOW_HOME/evidence.json"
python - "$GOVFLOW_HOME/evidence.json" <<'PY' || fail "the flow run did not reach the expected states"
import json, sys
finished = {}
for record in json.load(open(sys.argv[1])):
    context = record.get("context") or {}
    if record.get("event") == "task.finished":
        task = record["details"].get("action") or record["details"].get("task")
        finished.setdefault(task, []).append(record["outcome"])
    if record.get("event") == "flow_run.finished":
        finished["flow run"] = [record["outcome"]]
        payout = [g for g in record["details"].get("governance", []) if g["action"] == "payout"]
expected = {"read": ["success"], "publish": ["failed"], "extract": ["success"], "report": ["success"], "flow run": ["success"]}
ok = all(finished.get(k) == v for k, v in expected.items()) and payout and payout[0]["approval_id"]
for k, v in expected.items():
    print(f"  {k:9} {','.join(finished.get(k) or ['(none)']):9} {'ok' if finished.get(k) == v else 'expected ' + ','.join(v)}")
print(f"  payout    approval {payout[0]['approval_id'] if payout else '(none)'} in the flow run's evidence")
sys.exit(0 if ok else 1)
PY

echo
echo "Ledger: $GOVFLOW_HOME; flow output: $log (temporary under nox -s demo_prefect)"
