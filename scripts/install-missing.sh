#!/usr/bin/env bash
# Installs from Debian the packages whose command is missing (fresh machines and
# CI run as root with the Debian registry reachable); elsewhere it names them.
#   scripts/install-missing.sh WHO COMMAND:PACKAGE...
set -euo pipefail
who=$1
shift
need=()
for pair in "$@"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "$who: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
  exit 1
fi
echo "$who: installing ${need[*]} from Debian" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
