#!/usr/bin/env bash
# System packages `npm run bench` uses, installed from Debian when missing:
# h2load (nghttp2-client), the load client that is not the node's own, drives
# both gRPC (HTTP/2) and the HTTP JSON API (HTTP/1.1) in the http section.
set -euo pipefail
need=()
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench-deps: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "bench-deps: installing ${need[*]} from Debian" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
