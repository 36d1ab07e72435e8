#!/usr/bin/env bash
# Checks everything the demo needs before it starts: the tools, the OVH_* variables, access to
# the cluster, and the OVH API credentials with every permission the guide lists.
# Exit status: 0 when every check passes, 1 otherwise (each failure says what to fix).
#
# OVH_ENDPOINT (optional): ovh-eu (default), ovh-ca, ovh-us, or a base URL ending in /1.0.
set -uo pipefail

failures=0
ok() { printf '  [ok]   %s\n' "$1"; }
fail() {
  printf '  [FAIL] %s\n' "$1"
  failures=$((failures + 1))
}
warn() { printf '  [warn] %s\n' "$1"; }
section() { printf '\n%s\n' "$1"; }

section "Tools"
for tool in kubectl helm envsubst curl sha1sum; do
  if command -v "$tool" >/dev/null 2>&1; then
    ok "$tool: $(command -v "$tool")"
  else
    fail "$tool is not installed (envsubst comes with gettext; see the guide's prerequisites)"
  fi
done
if command -v helm >/dev/null 2>&1; then
  helm_version="$(helm version --short 2>/dev/null || true)"
  case "$helm_version" in
    v3.* | v4.*) ok "helm $helm_version" ;;
    *) fail "helm v3.x or later is needed (found '${helm_version:-unknown}')" ;;
  esac
fi

section "Variables"
for var in OVH_APPLICATION_KEY OVH_APPLICATION_SECRET OVH_CONSUMER_KEY OVH_SERVICE_NAME OVH_KUBE_ID OVH_REGION; do
  if [[ -n "${!var:-}" ]]; then
    case "$var" in
      OVH_APPLICATION_SECRET | OVH_CONSUMER_KEY) ok "$var is set" ;; # never echo secrets
      *) ok "$var=${!var}" ;;
    esac
  else
    fail "$var is not set (export it as the guide shows)"
  fi
done
if [[ -n "${OVH_SERVICE_NAME:-}" && ! "$OVH_SERVICE_NAME" =~ ^[a-f0-9]{32}$ ]]; then
  fail "OVH_SERVICE_NAME must be the Public Cloud project id: 32 lower-case hex characters (got ${#OVH_SERVICE_NAME} characters)"
fi
if [[ -n "${OVH_REGION:-}" && ! "$OVH_REGION" =~ ^[A-Za-z0-9-]+$ ]]; then
  fail "OVH_REGION must be a region name such as EU-WEST-PAR or GRA7"
fi
if [[ -n "${OVH_KUBE_ID:-}" && ! "$OVH_KUBE_ID" =~ ^[A-Za-z0-9-]+$ ]]; then
  fail "OVH_KUBE_ID must be the MKS cluster id (letters, digits and dashes)"
fi

section "Kubernetes cluster"
if command -v kubectl >/dev/null 2>&1; then
  if kubectl version --request-timeout=10s >/dev/null 2>&1; then
    ok "API server reachable ($(kubectl config current-context 2>/dev/null || echo 'no context name'))"
    if nodes="$(kubectl get nodes -o name --request-timeout=10s 2>&1)"; then
      ok "can list nodes ($(printf '%s' "$nodes" | grep -c . || true) now)"
    else
      fail "cannot list nodes: $nodes"
    fi
    for check in "create customresourcedefinitions.apiextensions.k8s.io" "create clusterroles.rbac.authorization.k8s.io" "create namespaces"; do
      # shellcheck disable=SC2086 # the verb and the resource are two words on purpose
      answer="$(kubectl auth can-i $check 2>/dev/null)"
      case "$answer" in
        yes) ok "may $check (helm install needs it)" ;;
        no) fail "may not $check: the installation needs cluster-admin rights" ;;
        *) warn "could not ask whether you may $check (kubectl auth can-i failed)" ;;
      esac
    done
  else
    fail "kubectl cannot reach a cluster: check KUBECONFIG (the MKS kubeconfig from the OVH console)"
  fi
fi

section "OVH API"
endpoint="${OVH_ENDPOINT:-ovh-eu}"
case "$endpoint" in
  ovh-eu) base="https://eu.api.ovh.com/1.0" ;;
  ovh-ca) base="https://ca.api.ovh.com/1.0" ;;
  ovh-us) base="https://api.us.ovhcloud.com/1.0" ;;
  http://* | https://*) base="${endpoint%/}" ;;
  *)
    fail "OVH_ENDPOINT must be ovh-eu, ovh-ca, ovh-us or a URL (got $endpoint)"
    base=""
    ;;
esac

# ovh_call METHOD PATH: signed call; prints the body, then the HTTP status on the last line.
ovh_call() {
  local method="$1" url="$base$2" ts sig
  ts=$(($(date +%s) + time_offset))
  sig="\$1\$$(printf '%s+%s+%s+%s+%s+%s' "$OVH_APPLICATION_SECRET" "$OVH_CONSUMER_KEY" "$method" "$url" "" "$ts" | sha1sum | cut -d' ' -f1)"
  curl -sS --max-time 20 -X "$method" -w '\n%{http_code}' \
    -H "X-Ovh-Application: $OVH_APPLICATION_KEY" -H "X-Ovh-Consumer: $OVH_CONSUMER_KEY" \
    -H "X-Ovh-Timestamp: $ts" -H "X-Ovh-Signature: $sig" "$url"
}
status_of() { printf '%s' "$1" | tail -n1; }
body_of() { printf '%s' "$1" | sed '$d'; }

have_credentials=1
for var in OVH_APPLICATION_KEY OVH_APPLICATION_SECRET OVH_CONSUMER_KEY OVH_SERVICE_NAME OVH_KUBE_ID; do
  [[ -n "${!var:-}" ]] || have_credentials=0
done
if [[ -z "$base" ]]; then
  :
elif [[ "$have_credentials" == 0 ]]; then
  fail "OVH checks skipped: set the OVH_* variables first"
elif ! server_time="$(curl -sS --max-time 20 "$base/auth/time" 2>&1)" || [[ ! "$server_time" =~ ^[0-9]+$ ]]; then
  fail "OVH API unreachable at $base: $server_time"
else
  time_offset=$((server_time - $(date +%s)))
  ok "OVH API reachable at $base (clock offset ${time_offset}s)"

  reply="$(ovh_call GET /auth/currentCredential)"
  if [[ "$(status_of "$reply")" != 200 && "$(body_of "$reply")" == *"not been granted"* ]]; then
    warn "this consumer key may not read its own access rules: only the read calls below are checked"
  elif [[ "$(status_of "$reply")" != 200 ]]; then
    fail "credentials refused (HTTP $(status_of "$reply")): $(body_of "$reply")"
  else
    credential="$(body_of "$reply" | tr -d ' \n\t')"
    if [[ "$credential" == *'"status":"validated"'* ]]; then
      ok "consumer key validated"
    else
      fail "consumer key not validated (open the validation URL given when it was created)"
    fi
    # The access rules, one "METHOD PATH" per line.
    rules="$(printf '%s' "$credential" | grep -o '{[^{}]*"method":"[A-Z]*"[^{}]*}' |
      sed -E 's/.*"method":"([A-Z]+)".*"path":"([^"]*)".*/\1 \2/; s/.*"path":"([^"]*)".*"method":"([A-Z]+)".*/\2 \1/')"
    while read -r method path; do
      granted=0
      while read -r rule_method rule_path; do
        # shellcheck disable=SC2053 # the rule path is a glob on purpose (OVH's * matches /)
        if [[ "$rule_method" == "$method" && "$path" == $rule_path ]]; then
          granted=1
          break
        fi
      done <<<"$rules"
      if [[ "$granted" == 1 ]]; then ok "permission $method $path"; else fail "permission $method $path is missing: recreate the token with it (see the guide)"; fi
    done <<'EOF'
GET /cloud/project/*/kube/*
POST /cloud/project/*/kube/*/nodepool
PUT /cloud/project/*/kube/*/nodepool/*
DELETE /cloud/project/*/kube/*/nodepool/*
GET /cloud/project/*/kube/*/nodepool
GET /cloud/project/*/kube/*/nodepool/*/nodes
GET /cloud/project/*/kube/*/flavors
GET /cloud/project/*/capabilities/kube/*
EOF
  fi

  reply="$(ovh_call GET "/cloud/project/$OVH_SERVICE_NAME/kube/$OVH_KUBE_ID")"
  if [[ "$(status_of "$reply")" == 200 ]]; then
    cluster_region="$(body_of "$reply" | tr -d ' \n\t' | grep -o '"region":"[^"]*"' | head -n1 | cut -d'"' -f4)"
    ok "MKS cluster $OVH_KUBE_ID found (region ${cluster_region:-unknown})"
    if [[ -n "${OVH_REGION:-}" && -n "$cluster_region" && "${cluster_region^^}" != "${OVH_REGION^^}" ]]; then
      fail "OVH_REGION=$OVH_REGION but the cluster is in $cluster_region"
    fi
  else
    fail "MKS cluster $OVH_KUBE_ID of project $OVH_SERVICE_NAME: HTTP $(status_of "$reply") $(body_of "$reply")"
  fi
  reply="$(ovh_call GET "/cloud/project/$OVH_SERVICE_NAME/kube/$OVH_KUBE_ID/flavors")"
  if [[ "$(status_of "$reply")" == 200 ]]; then
    ok "flavors listed ($(body_of "$reply" | grep -o '"name"' | wc -l | tr -d ' ') available to the cluster)"
  else
    fail "cannot list the cluster's flavors: HTTP $(status_of "$reply") $(body_of "$reply")"
  fi
fi

printf '\n'
if [[ "$failures" -gt 0 ]]; then
  printf '%d check(s) failed: fix them before running the demo.\n' "$failures"
  exit 1
fi
printf 'All checks passed: ready for the demo.\n'
