#!/usr/bin/env bash
# The governed_payouts job (example_dags/dagster_governed_assets.py) run by Dagster, with a person
# approving the payout through the govflow CLI and the approval sensor launching the job again.
# Needs an environment with govflow[dagster] first on PATH (e.g. PATH=.nox/dagster/bin:$PATH after
# `nox -s dagster`). DAGSTER_HOME and GOVFLOW_HOME default to .demo-dagster/; the Dagster instance
# there is a real persistent one, so the runs, their tags and the sensor see the same state, as
# they would under `dagster dev` (where the daemon evaluates the sensors instead of step 4 and 6).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

job=governed_payouts
stream="dagster/$job"
defs_file="$root/example_dags/dagster_governed_assets.py"

export DAGSTER_HOME="${DAGSTER_HOME:-$root/.demo-dagster/dagster}"
export GOVFLOW_HOME="${GOVFLOW_HOME:-$root/.demo-dagster/govflow}"
unset GOVFLOW_LEDGER_URL  # the ledger is GOVFLOW_HOME's, so the CLI sees what the runs recorded

for tool in dagster govflow python; do
  command -v "$tool" >/dev/null || { echo "demo_dagster: '$tool' is not on PATH (PATH=.nox/dagster/bin:\$PATH)" >&2; exit 1; }
done

rm -rf "$GOVFLOW_HOME" "$DAGSTER_HOME"
mkdir -p "$GOVFLOW_HOME" "$DAGSTER_HOME"
log="$GOVFLOW_HOME/dagster.log"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() {
  echo "demo_dagster: $*" >&2
  if [ -s "$log" ]; then echo "--- last lines of $log ---" >&2; tail -n 40 "$log" >&2; fi
  exit 1
}

# One small Python helper for the Dagster side: run the job, tick a sensor. Prints one line.
dagster_step() {
  python - "$defs_file" "$@" 2>>"$log" <<'EOF'
import importlib.util, json, sys
import dagster as dg

spec = importlib.util.spec_from_file_location("governed_assets", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
defs, command, args = module.defs, sys.argv[2], sys.argv[3:]
instance = dg.DagsterInstance.get()  # the persistent instance in DAGSTER_HOME
job = defs.resolve_job_def("governed_payouts")
resources = dict(defs.resources)

def evidence_for(run_id):
    # What the daemon's run-status sensors do after each run: one run.finished record.
    on_success, on_failure = [s for s in defs.sensors if s.name.startswith("govflow_evidence")]
    run = instance.get_run_by_id(run_id)
    kind = dg.DagsterEventType.RUN_SUCCESS if run.is_success else dg.DagsterEventType.RUN_FAILURE
    [record] = instance.get_records_for_run(run_id, of_type=kind).records
    ctx = dg.build_run_status_sensor_context(on_success.name if run.is_success else on_failure.name,
                                             record.event_log_entry.dagster_event, instance, run)
    on_success(ctx) if run.is_success else on_failure(ctx.for_run_failure())

if command == "run":
    tags = json.loads(args[0]) if args else {}
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    evidence_for(result.run_id)
    run = instance.get_run_by_id(result.run_id)
    steps = {e.step_key: e.event_type_value for e in result.all_events
             if e.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)}
    print(json.dumps({"run_id": result.run_id, "success": result.success, "steps": steps,
                      "awaiting": run.tags.get("govflow/pending_approval")}))
elif command == "tick":
    sensor = defs.get_sensor_def(f"govflow_approvals_{job.name}")
    ctx = dg.build_sensor_context(instance=instance, definitions=defs, resources=resources,
                                  cursor=args[0] if args and args[0] else None)
    tick = sensor.evaluate_tick(ctx)
    print(json.dumps({"requests": [{"run_key": r.run_key, "tags": r.tags} for r in tick.run_requests],
                      "skip": tick.skip_message, "cursor": tick.cursor}))
EOF
}
field() { python -c 'import json,sys; v=json.loads(sys.argv[1]); [v:=v[k] if not k.isdigit() else v[int(k)] for k in sys.argv[2].split(".")]; print(v if not isinstance(v,(dict,list)) else json.dumps(v))' "$1" "$2"; }

say "1. Dagster $(python -c 'import dagster; print(dagster.__version__)'): the definitions load"
dagster definitions validate -f "$defs_file" >>"$log" 2>&1 || fail "dagster definitions validate failed"
echo "valid: $defs_file"

say "2. First run of $job: the payout asks for an approval and the run stops (nothing is held)"
first=$(dagster_step run) || fail "the first run could not be executed"
echo "$first"
approval=$(field "$first" awaiting)
[ "$(field "$first" success)" = "False" ] && [ -n "$approval" ] && [ "$approval" != "None" ] \
  || fail "the first run should have stopped on a pending approval"

say "3. The approval sensor while nobody decided"
tick=$(dagster_step tick "") || fail "the sensor tick failed"
field "$tick" skip

say "4. A finance lead reviews and approves (another process, through the CLI)"
govflow approvals list --pipeline "$job"
govflow approvals approve "$approval" --as finance-lead --comment "Batch 42 checked against the purchase events"

say "5. The approval sensor launches $job again, keyed by the approval"
tick=$(dagster_step tick "$(field "$tick" cursor)") || fail "the sensor tick failed"
echo "$tick"
[ "$(field "$tick" requests.0.run_key)" = "$approval" ] || fail "the sensor did not request a run for $approval"
tags=$(field "$tick" requests.0.tags)
again=$(dagster_step tick "$(field "$tick" cursor)")
[ "$(field "$again" requests)" = "[]" ] || fail "the sensor requested a second run for the same approval"
echo "next tick: nothing new ($(field "$again" skip))"

say "6. The launched run (what the daemon would start from the RunRequest)"
second=$(dagster_step run "$tags") || fail "the second run could not be executed"
echo "$second"
[ "$(field "$second" success)" = "True" ] || fail "the approved run did not succeed"

say "7. The evidence chain of $stream"
govflow evidence list --stream "$stream"

say "8. Verification"
govflow evidence verify || fail "the evidence chain does not verify"

echo
echo "Dagster instance: $DAGSTER_HOME; ledger: $GOVFLOW_HOME; Dagster output: $log"
