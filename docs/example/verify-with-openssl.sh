#!/usr/bin/env bash
# Verifies the two-entry example log in this folder with nothing but OpenSSL
# and coreutils, following the README's "Verification format" section step by step. Trusts only pub.pem.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

hex() { od -An -v -tx1 | tr -d ' \n'; }
unhex() { local h; h=$(cat); printf "$(sed 's/../\\x&/g' <<<"$h")"; }
sha256() { openssl dgst -sha256 -binary; }

prev=0000000000000000000000000000000000000000000000000000000000000000
leaves=()
for i in 0 1; do
  body=entry-$i.body.json sig=entry-$i.sig.der
  # 1. The signature: ECDSA P-256 / SHA-256 over the exact body bytes, DER.
  openssl dgst -sha256 -verify pub.pem -signature "$sig" "$body" >/dev/null
  # 2. The chain: the body names the previous entry's hash.
  grep -q "\"prevHash\":\"$prev\"" "$body"
  # 3. The entry hash: SHA-256(prevHash || SHA-256(body) || signature).
  hash=$({ unhex <<<"$prev"; sha256 <"$body"; cat "$sig"; } | sha256 | hex)
  [ "$hash" = "$(cat entry-$i.hash.hex)" ]
  # 4. The Merkle leaf: SHA-256(0x00 || entry hash)   (RFC 6962 section 2.1)
  leaves+=("$({ printf '\x00'; unhex <<<"$hash"; } | sha256 | hex)")
  echo "entry $i: signature OK, chain OK, hash $hash"
  prev=$hash
done
# 5. The root of a 2-leaf tree: SHA-256(0x01 || leaf0 || leaf1).
root=$({ printf '\x01'; unhex <<<"${leaves[0]}"; unhex <<<"${leaves[1]}"; } | sha256 | openssl base64 -A)
# 6. The checkpoint: note text = the lines before the blank line; size 2; our root.
head -n 3 checkpoint.txt >"$tmp/text"
[ "$(sed -n 2p "$tmp/text")" = 2 ]
[ "$(sed -n 3p "$tmp/text")" = "$root" ]
# 7. Its signature: base64 after the key name; 4-byte key ID, then the DER signature.
sigline=$(grep '^— ' checkpoint.txt)
cut -d' ' -f3 <<<"$sigline" | openssl base64 -d -A >"$tmp/sig+id"
tail -c +5 "$tmp/sig+id" >"$tmp/sig"
openssl dgst -sha256 -verify pub.pem -signature "$tmp/sig" "$tmp/text" >/dev/null
# 8. The key ID: first 4 bytes of SHA-256 of the DER public key (C2SP signed-note, type 0x02).
keyid=$(openssl pkey -pubin -in pub.pem -outform DER | sha256 | head -c 4 | hex)
[ "$keyid" = "$(head -c 4 "$tmp/sig+id" | hex)" ]
echo "checkpoint: size 2, root $root, signature OK (key ID $keyid)"
echo "VERIFIED"
