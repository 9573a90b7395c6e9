#!/usr/bin/env bash
# Put back the previous version of the Surge Deployments that a failed deploy changed:
#   deploy/ci/rollback.sh NAMESPACE IMAGE
# Only a Deployment whose pods run IMAGE (the failed deploy's) is rolled back, so a deploy that
# failed before it changed anything (e.g. in `surge migrate`) leaves the running version alone.
# The schema stays migrated: each migration keeps the previous version working (docs/deploy.md).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 NAMESPACE IMAGE" >&2
  exit 2
fi
namespace=$1
image=$2
timeout=${SURGE_DEPLOY_TIMEOUT:-10m}

undone=()
for deployment in surge-redirect surge-api surge-analytics; do
  running="$(kubectl -n "$namespace" get "deployment/$deployment" \
    -o jsonpath='{.spec.template.spec.containers[0].image}')"
  if [[ $running == "$image" ]]; then
    kubectl -n "$namespace" rollout undo "deployment/$deployment"
    undone+=("$deployment")
  fi
done
for deployment in "${undone[@]}"; do
  kubectl -n "$namespace" rollout status "deployment/$deployment" --timeout="$timeout"
done
echo "rolled back ${undone[*]:-nothing} in $namespace"
