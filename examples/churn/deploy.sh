#!/usr/bin/env bash
# Stand-in for a real traffic switch (kubectl argo rollouts set weight, a KServe
# canaryTrafficPercent patch, ...): records the canary weight where service.py and the tests
# can see it, and logs every change.
#   ./deploy.sh --weight 10     route 10% of traffic to the new model
#   ./deploy.sh --rollback      route all traffic back to the current model
# mlgen exports MLGEN_MODEL_VERSION, the registry version this rollout registered: a real switch
# routes traffic to exactly that version, never to whatever an alias points at by then.
# State goes to $MLGEN_STATE_DIR (default .mlgen): canary-weight, and deploy.log with one
# "<UTC time> weight=N [version=V]" or "<UTC time> rollback [version=V]" line per change.
# CHURN_DEPLOY_LOG names one more log of the same events without the time ("weight=10 version=3"):
# CI jobs start from fresh workspaces, so a test that runs the whole pipeline keeps that file
# outside them to see every job's deployments in order.
set -euo pipefail

state_dir="${MLGEN_STATE_DIR:-.mlgen}"
mkdir -p "$state_dir"

record() {
  local event="$1${MLGEN_MODEL_VERSION:+ version=$MLGEN_MODEL_VERSION}"
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$event" >>"$state_dir/deploy.log"
  if [[ -n "${CHURN_DEPLOY_LOG:-}" ]]; then
    printf '%s\n' "$event" >>"$CHURN_DEPLOY_LOG"
  fi
}

case "${1:-}" in
  --weight)
    weight="${2:-}"
    if ! [[ "$weight" =~ ^[0-9]+$ ]] || ((weight > 100)); then
      echo "deploy.sh: --weight needs a percentage from 0 to 100, got '$weight'" >&2
      exit 2
    fi
    printf '%s\n' "$weight" >"$state_dir/canary-weight"
    record "weight=$weight"
    echo "deploy: $weight% of traffic on ${MLGEN_MODEL_VERSION:+version $MLGEN_MODEL_VERSION of }the new model"
    ;;
  --rollback)
    printf '0\n' >"$state_dir/canary-weight"
    record "rollback"
    echo "deploy: rolled back, all traffic on the current model"
    ;;
  *)
    echo "usage: deploy.sh --weight PERCENT | --rollback" >&2
    exit 2
    ;;
esac
