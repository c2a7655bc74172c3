#!/usr/bin/env bash
# The governed_payouts DAG (example_dags/airflow_governed_dag.py) run by Airflow, with a person
# approving the payout through the govflow CLI. Run by `make demo` through `nox -s demo_airflow`,
# which puts an environment with govflow[airflow] first on PATH and sets AIRFLOW_HOME,
# GOVFLOW_HOME and the dags folder to temporary directories. Run by hand, it needs the same PATH
# and uses .demo-airflow/ for whatever is not set.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

dag_id=governed_payouts
stream="airflow/$dag_id"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$root/.demo-airflow/airflow}"
export GOVFLOW_HOME="${GOVFLOW_HOME:-$root/.demo-airflow/govflow}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$root/example_dags}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
# The local platform: policy and contracts from the repository; the ledger is GOVFLOW_HOME's,
# so the CLI below sees the same approvals and evidence as the tasks.
export AIRFLOW_CONN_GOVFLOW_LOCAL_DEFAULT
AIRFLOW_CONN_GOVFLOW_LOCAL_DEFAULT=$(python - "$root" <<'EOF'
import json, sys
root = sys.argv[1]
print(json.dumps({
    "conn_type": "govflow_local",
    "extra": {"policy": f"{root}/example_dags/policy.yaml", "contracts": f"{root}/example_dags/contracts"},
}))
EOF
)

for tool in airflow govflow python; do
  command -v "$tool" >/dev/null || { echo "demo_airflow: '$tool' is not on PATH (run: nox -s demo_airflow)" >&2; exit 1; }
done

rm -rf "$GOVFLOW_HOME"
mkdir -p "$GOVFLOW_HOME" "$AIRFLOW_HOME"
log="$GOVFLOW_HOME/airflow-dags-test.log"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() {
  echo "demo_airflow: $*" >&2
  if [ -s "$log" ]; then echo "--- last lines of $log ---" >&2; tail -n 60 "$log" >&2; fi
  exit 1
}

say "1. Airflow $(airflow version 2>/dev/null | tail -n 1): the metadata database in $AIRFLOW_HOME"
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { log="$AIRFLOW_HOME/db-migrate.log"; fail "airflow db migrate failed"; }
echo "migrated"

say "2. airflow dags test $dag_id (in the background; the deferred payout's trigger runs inline)"
airflow dags test "$dag_id" >"$log" 2>&1 &
dag_pid=$!
trap 'kill "$dag_pid" 2>/dev/null || true' EXIT

# A second process acts as the finance lead on call: wait for the payout's approval request.
approval=""
for _ in $(seq 1 360); do
  approval=$(govflow approvals list --status pending --pipeline "$dag_id" --json 2>/dev/null \
    | python -c 'import json,sys; a=json.load(sys.stdin); print(a[0]["id"] if a else "")' || true)
  [ -n "$approval" ] && break
  kill -0 "$dag_pid" 2>/dev/null || break
  sleep 0.5
done
[ -n "$approval" ] || fail "the DAG never asked for the payout approval"

say "3. A finance lead reviews and approves (another process, through the CLI)"
govflow approvals show "$approval"
govflow approvals approve "$approval" --as finance-lead --comment "Batch 42 checked against the purchase events"

say "4. Waiting for the DAG run to finish"
dag_rc=0
wait "$dag_pid" || dag_rc=$?
trap - EXIT
grep -E "allowed by|denied|needs approval|granted by|records failed|^(extract|publish|validate|payout): |DagRun Finished" "$log" \
  | sed -E 's/^[0-9T:.Z-]+ \[[a-z ]+\] //; s/ \[airflow[^]]*\].*$//; s/, run_start_date.*$//' | cut -c1-220 || true
echo "airflow dags test exited with $dag_rc"

say "5. The evidence chain of $stream"
govflow evidence list --stream "$stream"

say "6. Verification"
govflow evidence verify || fail "the evidence chain does not verify"

# The run must have reached the expected states: only publish (denied) failed, the payout ran.
say "7. Checking the task outcomes the listener recorded"
govflow evidence list --stream "$stream" --json >"$GOVFLOW_HOME/evidence.json"
python - "$GOVFLOW_HOME/evidence.json" <<'EOF' || fail "the DAG run did not reach the expected states (publish failed, everything else succeeded)"
import json, sys
finished = {}
for record in json.load(open(sys.argv[1])):
    step = (record.get("context") or {}).get("step")
    if record.get("event") == "task.finished" and step:
        finished[step] = record.get("outcome")  # the last try wins
expected = {"extract": "success", "publish": "failed", "validate": "success", "payout": "success", "report": "success"}
for step, want in expected.items():
    got = finished.get(step) or "(none)"
    print(f"  {step:9} {got:9} {'ok' if got == want else 'expected ' + want}")
sys.exit(0 if all(finished.get(s) == w for s, w in expected.items()) else 1)
EOF
[ "$dag_rc" -eq 0 ] || fail "airflow dags test exited with $dag_rc"

echo
echo "Ledger: $GOVFLOW_HOME; Airflow output: $log (temporary under nox -s demo_airflow)"
