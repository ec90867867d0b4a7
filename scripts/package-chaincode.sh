#!/usr/bin/env bash
# Assembles the Cairn anchor chaincode (src/chaincode) for
# `peer lifecycle chaincode package --lang node`:
#
#   scripts/package-chaincode.sh [OUT_DIR]      (default: dist/chaincode-package)
#
# OUT_DIR/cairn-anchor/ gets the chaincode's own package.json ("start":
# "fabric-chaincode-node start", dependencies fabric-contract-api and
# fabric-shim) and the compiled CommonJS files; OUT_DIR/cairn-anchor-src.tar.gz
# is the same folder as a tarball. The peer's Node builder runs `npm install`
# in that folder and then `npm start`, so nothing from node_modules is copied.
#
# The chaincode is compiled by the root tsc (tsconfig.build.json) into
# dist/src/chaincode; SKIP_BUILD=1 uses what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-dist/chaincode-package}
label=${CHAINCODE_LABEL:-cairn-anchor_$(node -p 'require("./src/chaincode/package.json").version')}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  npx tsc -p tsconfig.build.json
fi
main=$(node -p 'require("./src/chaincode/package.json").main')
if [ ! -f "dist/src/chaincode/$main" ]; then
  echo "package-chaincode: dist/src/chaincode/$main is missing; build first (npm run build)" >&2
  exit 1
fi

pkg="$out/cairn-anchor"
rm -rf "$pkg"
mkdir -p "$pkg"
cp src/chaincode/package.json "$pkg/"
[ -f src/chaincode/README.md ] && cp src/chaincode/README.md "$pkg/"
for f in dist/src/chaincode/*.cjs; do
  # Source maps point into src/; the deployed package does not carry them.
  sed '/^\/\/# sourceMappingURL=/d' "$f" > "$pkg/$(basename "$f")"
done
tar -czf "$out/cairn-anchor-src.tar.gz" -C "$out" cairn-anchor

cat <<EOF
chaincode folder: $pkg
source tarball:   $out/cairn-anchor-src.tar.gz
package it on a Fabric admin host with:
  peer lifecycle chaincode package cairn-anchor.tar.gz --path $pkg --lang node --label $label
EOF
