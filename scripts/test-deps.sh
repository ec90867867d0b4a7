#!/usr/bin/env bash
# System packages the test suite uses, installed from Debian when missing:
# etcd for the etcd targets, kubectl for `kubectl kustomize`
# (test/deploy.test.ts; any kubectl will do), curl and jq for the CI recipes
# of docs/integrations/ci.md run as written (test/ci-recipes.test.ts),
# chromium for the console tests in a real browser (test/console.test.ts).
set -euo pipefail
exec bash "$(dirname "$0")/install-missing.sh" test-deps \
  openssl:openssl git:git etcd:etcd-server kubectl:kubernetes-client curl:curl jq:jq chromium:chromium
