#!/usr/bin/env bash
# System packages `npm run bench` uses, installed from Debian when missing:
# h2load (nghttp2-client), the load client that is not the node's own, drives
# both gRPC (HTTP/2) and the HTTP JSON API (HTTP/1.1) in the http section;
# chromium runs the console section (verification in the browser).
set -euo pipefail
exec bash "$(dirname "$0")/install-missing.sh" bench-deps h2load:nghttp2-client chromium:chromium
