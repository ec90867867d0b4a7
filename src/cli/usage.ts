export const USAGE = `cairn: tamper-evident audit ledger for configuration changes

Usage: cairn <command> [flags]

Node
  serve [--config FILE] [--data-dir DIR] [--listen HOST:PORT] [--metrics-listen HOST:PORT]
        [--node-name NAME] [--key-file FILE] [--log-level LEVEL] [--max-batch N] [--max-queue N]
        [--max-logs N] [--max-payload-bytes N] [--tls-cert-file F --tls-key-file F [--tls-client-ca-file F]]
        [--policy-file F [--tokens-file F]] [--rate-limit-appends N] ... (docs/operations.md)
        Settings: flags > environment (CAIRN_*) > config file (--config or $CONFIG_PATH) > defaults.
        SIGHUP re-reads the policy, tokens and TLS files.
        The signing key may instead come from $CAIRN_SIGNING_KEY_PEM (PKCS#8 PEM; wins over --key-file).
  keygen --out DIR             write a new P-256 key pair (private key mode 0600)
  token create --name NAME     a new bearer token: give "token" to the CI system once, put "line"
                               in the node's tokens file (only a salted hash is stored)
  rotate-key --data-dir DIR [--new-key FILE] [--key-file FILE] [--config FILE] [--node-name NAME]
                               with the node stopped: every log gets a rotation entry signed by the old
                               key, the new key (--new-key, PKCS#8 0600, or generated) replaces it;
                               run it again if it was interrupted

Talking to a node: --server (default $CAIRN_SERVER or 127.0.0.1:7700); TLS with --tls-ca FILE
  [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME] ($CAIRN_TLS_CA, ...); a bearer token
  from --token-file FILE or $CAIRN_TOKEN (never a flag: it would show in ps)

Recording
  record --log NAME --config-id ID --operator WHO --action ACTION [--commit SHA] [--source S]
         [--data JSON | --data-file FILE] [--request-id ID]
                               prints the receipt (entry, signed checkpoint, inclusion proof)
  get --log NAME --seq N       one entry
  checkpoint --log NAME [--size N] [--pubkey FILE]
  logs                         every log with its size and root
  pubkey [--chain]             the node's public key (PEM), or its key chain (JSON)

Verification (with a pinned key: --pubkey FILE or $CAIRN_PUBKEY, the node's first key; its key
chain is followed from it after key rotations)
  verify --log NAME --pubkey FILE [--state FILE] [--threads N] [--anchors [--fabric-config FILE]]
                               every entry, signature, chain link and the Merkle root; with --state,
                               also rollback and fork detection against the last verified checkpoint;
                               with --anchors, also against every anchor window that covers the log,
                               roots read from the Fabric channel with your identity (--fabric-config)
  proof --log NAME --seq N [--size M] --pubkey FILE      inclusion proof, verified before printing
  proof --log NAME --from A --to B --pubkey FILE         consistency proof, verified before printing
  export --log NAME --out FILE                          offline bundle (JSON Lines, with anchor proofs)
  verify-bundle FILE --pubkey FILE [--threads N] [--fabric-config FILE]
                               verify a bundle and its anchor proofs with no server (with
                               --fabric-config, also against the anchors on the channel)
                               (--threads: signature-checking threads, 0 = inline; default one per core, up to 4)
  verify-receipt FILE --pubkey FILE                     verify a saved 'record' receipt offline
  report (--log NAME | --bundle FILE) --pubkey FILE --out FILE.html [--from TIME] [--to TIME]
         [--max-rows N] [--fabric-config FILE] [--generated-at TIME|now] [--threads N]
                               verify the log (as verify, or a bundle offline) and write a self-contained
                               HTML audit report: verdict first, key, checkpoint, anchors, summaries, drift
                               episodes, every change in [--from, --to) (RFC 3339 or unix seconds);
                               byte-identical for the same data (docs/reports.md)

GitOps sync (desired state: YAML manifests in Git; live: dir, etcd or kubernetes)
  sync --repo PATH_OR_URL [--branch B] [--path P] --target dir:PATH|etcd:ENDPOINTS/PREFIX|kubernetes[:CONTEXT]
       [--log NAME] [--name TARGET] [--once] [--apply] [--interval 15s] [--namespace NS]
       [--ignore /pointer|Kind:/pointer|Kind]... [--mask-key FILE] [--cache-dir DIR]
       [--cluster-scoped Kind]... [--kube-resource [GROUP/]VERSION/PLURAL/Kind[@NAMESPACE]]...
       [--etcd-ca FILE] [--etcd-cert FILE --etcd-key FILE] [--etcd-user NAME --etcd-password-file FILE]
                               records drift (and, with --apply on dir/etcd, convergence) into --server,
                               log "sync" by default; one JSON line per entry, or a summary with --once
  diff --repo PATH_OR_URL [--branch B] [--path P] --target SPEC [--json] [--exit-code] [--color auto|always|never]
                               prints the drift without recording; --exit-code exits 1 when there is drift

Exit codes: 0 ok, 1 verification failed or tampering found, 2 usage, input or connection error.
`;
