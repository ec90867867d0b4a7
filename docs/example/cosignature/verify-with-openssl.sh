#!/usr/bin/env bash
# Verifies the witness cosignature in cosigned-checkpoint.txt with nothing but
# OpenSSL and coreutils, following docs/format.md section 9 step by step.
# Trusts only witness.pub.pem (and, for the checkpoint itself, ../pub.pem).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

hex() { od -An -v -tx1 | tr -d ' \n'; }
sha256() { openssl dgst -sha256 -binary; }
name=witness.example

# 1. The checkpoint's note text: the lines before the blank line.
sed '/^$/,$d' cosigned-checkpoint.txt >"$tmp/text"
# 2. The log's own signature still verifies (docs/format.md section 4).
logline=$(grep '^— cairn.example ' cosigned-checkpoint.txt)
cut -d' ' -f3 <<<"$logline" | openssl base64 -d -A | tail -c +5 >"$tmp/logsig"
openssl dgst -sha256 -verify ../pub.pem -signature "$tmp/logsig" "$tmp/text" >/dev/null
# 3. The cosignature line: base64 of key ID (4 bytes) || timestamp (8 bytes, big-endian) || DER signature.
line=$(grep "^— $name " cosigned-checkpoint.txt)
cut -d' ' -f3 <<<"$line" | openssl base64 -d -A >"$tmp/blob"
# 4. The key ID: SHA-256(name || 0x0A || 0xFF || "cairn-cosignature/v1" || 0x0A || DER SPKI)[:4].
openssl pkey -pubin -in witness.pub.pem -outform DER >"$tmp/spki"
keyid=$({ printf '%s\n\xff%s\n' "$name" 'cairn-cosignature/v1'; cat "$tmp/spki"; } | sha256 | head -c 4 | hex)
[ "$keyid" = "$(head -c 4 "$tmp/blob" | hex)" ]
# 5. The timestamp, then the signed message: "cosignature/v1\ntime <t>\n" || note text.
time=$((16#$(tail -c +5 "$tmp/blob" | head -c 8 | hex)))
{ printf 'cosignature/v1\ntime %d\n' "$time"; cat "$tmp/text"; } >"$tmp/message"
# 6. The signature: ECDSA P-256 / SHA-256, DER, by the witness key.
tail -c +13 "$tmp/blob" >"$tmp/sig"
openssl dgst -sha256 -verify witness.pub.pem -signature "$tmp/sig" "$tmp/message" >/dev/null
echo "cosignature by $name (key ID $keyid) at time $time: signature OK"
echo "VERIFIED"
