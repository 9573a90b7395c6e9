#!/usr/bin/env bash
# Deploy Surge to the cluster of the current kubectl context, in order:
#   1. the namespace, settings and the migrate Job (label surge.dev/deploy-phase=migrate);
#      wait until `surge migrate` has succeeded (the running pods keep serving meanwhile);
#   2. everything else; wait until each Deployment has rolled out (maxUnavailable 0: old pods
#      serve until new ones are ready; each old pod drains and flushes its clicks on SIGTERM).
#
#   deploy/ci/deploy.sh OVERLAY IMAGE      e.g. deploy/k8s/overlays/staging ghcr.io/acme/surge@sha256:...
#
# Exits non-zero when a step fails or times out (SURGE_DEPLOY_TIMEOUT, default 10m); then
# deploy/ci/rollback.sh NAMESPACE puts the previous version back.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 OVERLAY IMAGE" >&2
  exit 2
fi
overlay=$1
image=$2
timeout=${SURGE_DEPLOY_TIMEOUT:-10m}
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

manifests="$work/manifests.yaml"
namespace="$(python3 "$here/render.py" "$overlay" "$image" "$manifests")"
echo "deploying $image to namespace $namespace"

# A Job's pod template cannot change: the previous deploy's Job goes first.
kubectl -n "$namespace" delete job surge-migrate --ignore-not-found --wait=true
kubectl apply -f "$manifests" -l surge.dev/deploy-phase=migrate
if ! kubectl -n "$namespace" wait --for=condition=complete job/surge-migrate --timeout="$timeout"; then
  echo "surge migrate did not complete; its output:" >&2
  kubectl -n "$namespace" logs job/surge-migrate --tail=50 >&2 || true
  exit 1
fi

kubectl apply -f "$manifests"
for deployment in surge-analytics surge-api surge-redirect; do
  kubectl -n "$namespace" rollout status "deployment/$deployment" --timeout="$timeout"
done
echo "deployed $image to $namespace"
