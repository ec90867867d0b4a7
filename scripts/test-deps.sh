#!/usr/bin/env bash
# System packages the test suite uses, installed from Debian when missing
# (CI and fresh machines run as root with the Debian registry reachable).
set -euo pipefail
need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v git >/dev/null 2>&1 || need+=(git)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
# kubectl for `kubectl kustomize` (test/deploy.test.ts); any kubectl will do.
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
# The CI recipes of docs/integrations/ci.md run as written (test/ci-recipes.test.ts).
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "test-deps: installing ${need[*]} from Debian" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
