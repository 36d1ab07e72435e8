#!/usr/bin/env bash
# Removes everything the demo created, in the order that lets Karpenter give the OVH nodes back:
# workloads, then NodePools (their NodeClaims and nodes are drained and deleted from OVH), wait
# until the nodes are gone, then the OVHNodeClasses, the Helm release and the namespace.
# The CRDs stay (deleting them would delete every NodePool of the cluster):
#   kubectl delete -f charts/karpenter-ovhcloud/crds/   # only when nothing else uses them
#
# CLEANUP_TIMEOUT: seconds to wait for the nodes to go (default 900).
# KEEP_NAMESPACE=1: keep the karpenter namespace and its credentials Secret.
set -uo pipefail

namespace="${KARPENTER_NAMESPACE:-karpenter}"
release="${KARPENTER_RELEASE:-karpenter-ovhcloud}"
timeout="${CLEANUP_TIMEOUT:-900}"
status=0

step() { printf '\n==> %s\n' "$1"; }

step "Workloads"
kubectl delete deployment -n default inflate small-workload large-workload zone-spread \
  --ignore-not-found --wait=true --timeout=120s || status=1

step "NodePools (Karpenter drains and removes their nodes)"
kubectl delete nodepools.karpenter.sh demo-pool multi-flavor multizone monthly \
  --ignore-not-found --wait=false || status=1

step "Waiting for the NodeClaims and their nodes to go (up to ${timeout}s)"
deadline=$(($(date +%s) + timeout))
while :; do
  claims="$(kubectl get nodeclaims.karpenter.sh --no-headers 2>/dev/null | grep -c . || true)"
  nodes="$(kubectl get nodes -l karpenter.sh/nodepool --no-headers 2>/dev/null | grep -c . || true)"
  if [[ "$claims" == 0 && "$nodes" == 0 ]]; then
    echo "no NodeClaim and no Karpenter node left"
    break
  fi
  if [[ "$(date +%s)" -ge "$deadline" ]]; then
    echo "still $claims NodeClaim(s) and $nodes node(s) after ${timeout}s:"
    kubectl get nodeclaims.karpenter.sh -o wide 2>/dev/null
    echo "look at: kubectl logs -n $namespace -l app.kubernetes.io/name=karpenter-ovhcloud"
    status=1
    break
  fi
  echo "  $claims NodeClaim(s), $nodes node(s) left"
  sleep 5
done

step "OVHNodeClasses"
kubectl delete ovhnodeclasses.karpenter.ovhcloud.sh default monthly anti-affinity \
  --ignore-not-found --wait=true --timeout=120s || status=1

step "Helm release $release"
if helm status "$release" -n "$namespace" >/dev/null 2>&1; then
  helm uninstall "$release" -n "$namespace" --wait || status=1
else
  echo "not installed"
fi

if [[ "${KEEP_NAMESPACE:-0}" != 1 ]]; then
  step "Namespace $namespace (and the credentials Secret)"
  kubectl delete namespace "$namespace" --ignore-not-found --wait=false || status=1
fi

if [[ "$status" != 0 ]]; then
  printf '\nCleanup finished with errors (see above). Check the OVH console for karpenter-* node pools.\n'
  exit 1
fi
printf '\nCleanup done.\n'
