#!/usr/bin/env bash
# The governed demo pipeline on the embedded local platform, with a person approving through the CLI.
# Run by `make demo`, with the project's virtual environment first on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOVFLOW_HOME="${GOVFLOW_HOME:-$PWD/.demo}"
rm -rf "$GOVFLOW_HOME"
mkdir -p "$GOVFLOW_HOME"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. The policy"
govflow policy check example_dags/policy.yaml

say "2. The pipeline runs (in the background, as a scheduler would run it)"
python example_dags/governed_pipeline.py "run-$(date +%Y%m%d-%H%M%S)" &
pipeline=$!
trap 'kill $pipeline 2>/dev/null || true' EXIT

# A second process acts as the person on call: wait for the approval request to show up.
approval=""
for _ in $(seq 1 120); do
  approval=$(govflow approvals list --status pending --json \
    | python -c 'import json,sys; a=json.load(sys.stdin); print(a[0]["id"] if a else "")')
  [ -n "$approval" ] && break
  kill -0 "$pipeline" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$approval" ]; then
  echo "demo: the pipeline never asked for an approval" >&2
  exit 1
fi

say "3. A finance lead reviews and approves (another process, through the CLI)"
govflow approvals show "$approval"
govflow approvals approve "$approval" --as finance-lead --comment "Batch 42 checked against invoices"

wait "$pipeline"
trap - EXIT

say "4. The evidence chain"
govflow evidence list

say "5. Verification"
govflow evidence verify

say "6. What tampering looks like: an exported copy with one outcome rewritten"
export_file="$GOVFLOW_HOME/evidence.jsonl"
govflow evidence export -o "$export_file"
sed -i 's/"outcome":"denied"/"outcome":"success"/' "$export_file"
if govflow evidence verify --file "$export_file"; then
  echo "demo: the tampered export verified, which it must not" >&2
  exit 1
fi
echo
echo "The ledger is $GOVFLOW_HOME/govflow.db; try: GOVFLOW_HOME=$GOVFLOW_HOME govflow evidence show python/demo_pipeline#1"
