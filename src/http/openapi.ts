/**
 * The OpenAPI 3.1 document of the HTTP API, served at `/v1/openapi.json`.
 * It is the route table too: the server registers exactly the operations
 * listed here (http-server.ts), each query parameter it accepts is one
 * listed for its operation, and the tests validate every response against
 * these schemas. docs/api.md's HTTP reference is rendered from it
 * (scripts/api-reference.ts).
 *
 * Field names are those of proto/cairn/ledger/v1/ledger.proto (snake_case in
 * requests and query strings, as the validation errors name them); the
 * answers are the JSON the CLI prints (`cairn record`, `cairn get`).
 */

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const hex = (what: string): Json => ({ type: 'string', pattern: '^[0-9a-f]*$', description: `${what}, lowercase hex` });
const hex32 = (what: string): Json => ({ type: 'string', pattern: '^[0-9a-f]{64}$', description: `${what}, 32 bytes in lowercase hex` });
const u64 = (description: string): Json => ({ type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description });

const logParam: Json = { name: 'log', in: 'path', required: true, description: 'The log: `[a-z0-9][a-z0-9._-]{0,62}`.', schema: { type: 'string' } };
function query(name: string, description: string, required = false): Json {
  return { name, in: 'query', required, description, schema: { type: 'string', pattern: '^[0-9]{1,20}$' } };
}
const originParam: Json = {
  name: 'origin',
  in: 'query',
  required: false,
  description: 'Another node\'s name: read this node\'s verified mirror of that origin\'s log (docs/federation.md); absent or this node\'s own name: its own log.',
  schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$' },
};
function textQuery(name: string, description: string): Json {
  return { name, in: 'query', required: false, description, schema: { type: 'string', minLength: 1, maxLength: 512 } };
}
const hookLogParam: Json = { name: 'log', in: 'query', required: true, description: 'The log the event is recorded in.', schema: { type: 'string' } };

/** The error statuses every authenticated operation may answer. */
const ERRORS = ['400', '401', '403', '404', '429', '500', '503', '504'] as const;
function errors(): Json {
  return Object.fromEntries(ERRORS.map((s) => [s, { $ref: `#/components/responses/E${s}` }]));
}
const json = (schema: Json): Json => ({ 'application/json': { schema } });
function ok(description: string, content: Json): Json {
  return { '200': { description, content }, ...errors() };
}

const security = [{ bearer: [] }, { mutualTls: [] }, {}];

export const OPENAPI_PATH = '/v1/openapi.json';

export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'Cairn ledger HTTP API',
    version: 'v1',
    description:
      'The JSON face of cairn.ledger.v1.Ledger: the same handlers, access control and errors as gRPC. ' +
      'Authentication is a bearer token (`Authorization: Bearer <token>`) and/or a client certificate, as on gRPC; ' +
      'with no policy_file the node runs open on loopback. A log the caller may not read answers 404 exactly like a log that does not exist. ' +
      'Errors are `{code, message, field}` with the stable code; 429 carries Retry-After.',
    license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
  },
  servers: [{ url: 'http://127.0.0.1:7701', description: 'the default http_listen' }],
  security,
  paths: {
    '/v1/logs': {
      get: {
        operationId: 'listLogs',
        summary: 'The latest checkpoint of every log the caller may read',
        parameters: [originParam],
        responses: ok('the logs', json(ref('Logs'))),
      },
    },
    '/v1/logs/{log}/entries': {
      post: {
        operationId: 'appendEntry',
        summary: 'Record a change (Append); answers the receipt, exactly what `cairn record` prints',
        description:
          'Acknowledged only once the entry is durable. A `request_id` already recorded in this log answers the original receipt with `replayed: true` and records nothing: retries are safe.',
        parameters: [logParam],
        requestBody: { required: true, content: json(ref('AppendRequest')) },
        responses: ok('the receipt', json(ref('Receipt'))),
      },
      get: {
        operationId: 'listEntries',
        summary: 'Entries in [start, end): a page as JSON (filtered, either order), or every entry as a JSON Lines stream',
        description:
          'With `Accept: application/jsonl` the answer is one entry per line until `end` (or the log\'s size); ' +
          'a failure after the first line ends the stream with one line `{"error": {code, message, field}}`. ' +
          'Otherwise a page of at most `limit` entries, and `next`, the `start` of the next page (null at the end).',
        parameters: [
          logParam,
          query('start', 'First seq (default 0).'),
          query('end', 'Seq to stop before; 0 or absent: the log\'s size.'),
          query('limit', 'Entries in one page, 1 to 1000 (default 100); JSON only.'),
          { name: 'order', in: 'query', required: false, description: '`asc` (default): oldest first, `next` is the next page\'s `start`; `desc`: newest first from `end`, `next` is the next page\'s `end` (a log of any size pages from its end without a scan). JSON only.', schema: { enum: ['asc', 'desc'] } },
          textQuery('config_id', 'Only entries of this config id. JSON only, as the filters below; a filtered page scans at most 10000 entries, so it may hold fewer than `limit` (even none) with a `next` to continue from.'),
          textQuery('operator', 'Only entries by this operator (the client\'s claim).'),
          textQuery('identity', 'Only entries whose authenticated identity is this (`token:ci`).'),
          textQuery('action', 'Only entries with this action.'),
          textQuery('commit', 'Only entries whose commit starts with this (an abbreviated hash matches).'),
          textQuery('since', 'Only entries at or after this RFC 3339 time or date.'),
          textQuery('until', 'Only entries before this RFC 3339 time or date.'),
          originParam,
        ],
        responses: ok('the entries', {
          'application/json': { schema: ref('EntryPage') },
          'application/jsonl': { schema: { type: 'string' }, 'x-line-schema': ref('EntryLine') },
        }),
      },
    },
    '/v1/logs/{log}/entries/{seq}': {
      get: {
        operationId: 'getEntry',
        summary: 'One entry, exactly what `cairn get` prints',
        parameters: [logParam, { name: 'seq', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9]{1,20}$' } }, originParam],
        responses: ok('the entry', json(ref('Entry'))),
      },
    },
    '/v1/logs/{log}/checkpoint': {
      get: {
        operationId: 'getCheckpoint',
        summary: 'A signed checkpoint as JSON, or with `Accept: text/plain` the C2SP signed note itself',
        parameters: [logParam, query('size', 'The tree size; 0 or absent: the latest.'), originParam, query('min_cosignatures', 'With size absent: the latest checkpoint with at least this many witness cosignatures (404 while there is none; own logs only).')],
        responses: ok('the checkpoint', {
          'application/json': { schema: ref('Checkpoint') },
          'text/plain': { schema: { type: 'string', description: 'C2SP tlog-checkpoint in a C2SP signed note' } },
        }),
      },
    },
    '/v1/logs/{log}/proofs/inclusion': {
      get: {
        operationId: 'getInclusionProof',
        summary: 'RFC 6962 inclusion proof of entry `seq` in the tree of `size`',
        parameters: [logParam, query('seq', 'The entry.', true), query('size', 'The tree size; 0 or absent: the latest.'), originParam],
        responses: ok('the proof and the checkpoint it leads to', json(ref('InclusionProof'))),
      },
    },
    '/v1/logs/{log}/proofs/consistency': {
      get: {
        operationId: 'getConsistencyProof',
        summary: 'RFC 6962 consistency proof from `from_size` to `to_size`',
        parameters: [logParam, query('from_size', 'The older size.', true), query('to_size', 'The newer size; 0 or absent: the latest.'), originParam],
        responses: ok('the proof and the checkpoint at `to_size`', json(ref('ConsistencyProof'))),
      },
    },
    '/v1/logs/{log}/anchors': {
      get: {
        operationId: 'listAnchors',
        summary: 'Anchor windows that cover the log (needs the anchor:read rule)',
        parameters: [logParam, query('from_window', 'First window number (default 0).'), query('limit', 'Windows at most, 1 to 1000 (default 1000).')],
        responses: ok('the windows, oldest first', json(ref('Anchors'))),
      },
    },
    '/v1/logs/{log}/anchors/proof': {
      get: {
        operationId: 'getAnchorProof',
        summary: 'The anchor window holding the log\'s checkpoint at `size`, with its audit path to the window root',
        parameters: [logParam, query('size', 'The checkpoint\'s size; 0 or absent: the latest committed window.')],
        responses: ok('the proof', json(ref('AnchorProof'))),
      },
    },
    '/v1/anchors/{window}': {
      get: {
        operationId: 'getAnchor',
        summary: 'One anchor window, with only the checkpoints of logs the caller may read',
        parameters: [{ name: 'window', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9]{1,20}$' } }],
        responses: ok('the window', json(ref('Anchor'))),
      },
    },
    '/v1/public-key': {
      get: {
        operationId: 'getPublicKey',
        parameters: [originParam],
        summary: 'The node\'s current signing key',
        responses: ok('the key', json(ref('PublicKey'))),
      },
    },
    '/v1/key-chain': {
      get: {
        operationId: 'getKeyChain',
        parameters: [originParam],
        summary: 'The key links from the node\'s first key to its current one, exactly what `cairn pubkey --chain` prints',
        responses: ok('the chain (empty when the key never rotated)', json(ref('KeyChain'))),
      },
    },
    '/v1/federation/status': {
      get: {
        operationId: 'getFederationStatus',
        summary: 'The node\'s version vector (the logs the caller may read, its own and its mirrors), its peers and the split views it caught (docs/federation.md)',
        responses: ok('the federation status', json(ref('FederationStatus'))),
      },
    },
    '/v1/hooks/argocd': {
      post: {
        operationId: 'argocdHook',
        summary: 'Intake for Argo CD Notifications\' webhook service (docs/integrations/argocd.md)',
        description: 'Records the event as `argocd.<event>` on `argocd/<project>/<app>`; the same event delivered again is recorded once.',
        parameters: [hookLogParam],
        requestBody: { required: true, content: json(ref('ArgoCdEvent')) },
        responses: ok('the receipt', json(ref('Receipt'))),
      },
    },
    '/v1/hooks/flux': {
      post: {
        operationId: 'fluxHook',
        summary: 'Intake for Flux notification-controller\'s generic-hmac provider (docs/integrations/flux.md)',
        description:
          '`X-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact body under the key of flux_hmac_key_file, is checked before the body is parsed: ' +
          'a missing or wrong signature is 401 and nothing is stored. Records the event as `flux.<reason>` on `flux/<kind>/<namespace>/<name>`.',
        parameters: [hookLogParam, { name: 'X-Signature', in: 'header', required: true, schema: { type: 'string', pattern: '^sha256=[0-9a-f]{64}$' } }],
        requestBody: { required: true, content: json(ref('FluxEvent')) },
        responses: ok('the receipt', json(ref('Receipt'))),
      },
    },
    [OPENAPI_PATH]: {
      get: {
        operationId: 'getOpenApi',
        summary: 'This document',
        security: [{}],
        responses: { '200': { description: 'the OpenAPI 3.1 document', content: json({ type: 'object' }) } },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'A token of tokens_file (`cairn token create`).' },
      mutualTls: { type: 'mutualTLS', description: 'A client certificate issued by tls_client_ca_file.' },
    },
    responses: {
      E400: { description: 'INVALID_ARGUMENT (`field` names the request field) or FAILED_PRECONDITION', content: json(ref('Error')) },
      E401: { description: 'UNAUTHENTICATED: no valid credential, a wrong token, or (Flux) a wrong signature', content: json(ref('Error')) },
      E403: { description: 'PERMISSION_DENIED', content: json(ref('Error')) },
      E404: { description: 'NOT_FOUND, also for a log the caller may not read', content: json(ref('Error')) },
      E429: { description: 'RESOURCE_EXHAUSTED; Retry-After says when to retry', headers: { 'Retry-After': { schema: { type: 'integer', minimum: 1 } } }, content: json(ref('Error')) },
      E500: { description: 'CORRUPTION (the node\'s stored data contradicts itself) or INTERNAL', content: json(ref('Error')) },
      E503: { description: 'UNAVAILABLE: retry', content: json(ref('Error')) },
      E504: { description: 'DEADLINE_EXCEEDED (request_timeout_ms); an append may still be recorded: retry with the same request_id', content: json(ref('Error')) },
    },
    schemas: {
      Error: {
        type: 'object',
        additionalProperties: false,
        required: ['code', 'message', 'field'],
        properties: {
          code: { enum: ['INVALID_ARGUMENT', 'NOT_FOUND', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'ALREADY_EXISTS', 'FAILED_PRECONDITION', 'RESOURCE_EXHAUSTED', 'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'CORRUPTION', 'INTERNAL'] },
          message: { type: 'string' },
          field: { type: ['string', 'null'], description: 'For INVALID_ARGUMENT: the request field at fault.' },
        },
      },
      AppendRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['config_id', 'operator', 'action'],
        description: 'AppendRequest of ledger.proto without `log` (the path names it); the limits are in docs/api.md.',
        properties: {
          config_id: { type: 'string', maxLength: 256 },
          operator: { type: 'string', maxLength: 256 },
          action: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$' },
          source: { type: 'string', maxLength: 512 },
          commit: { type: 'string', pattern: '^(?:[0-9a-f]{7,40}|[0-9a-f]{64})$' },
          payload_json: { type: 'string', description: 'Any JSON value, as text (at most max_payload_bytes).' },
          request_id: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$', description: 'Idempotency key: a retry with the same id records nothing new.' },
        },
      },
      EntryFields: {
        type: 'object',
        description: 'The signed body, decoded (docs/format.md).',
        required: ['v', 'log', 'seq', 'time', 'configId', 'operator', 'identity', 'action', 'source', 'commit', 'payload', 'requestId', 'prevHash'],
        properties: {
          v: { type: 'integer' },
          log: { type: 'string' },
          seq: u64('Position in the log.'),
          time: { type: 'string', format: 'date-time' },
          configId: { type: 'string' },
          operator: { type: 'string' },
          identity: { type: 'string', description: 'Who the node authenticated (empty with authentication off).' },
          action: { type: 'string' },
          source: { type: 'string' },
          commit: { type: 'string' },
          payload: { description: 'Any JSON value; null when none.' },
          requestId: { type: 'string' },
          prevHash: hex32('The previous entry\'s hash'),
        },
      },
      Entry: {
        type: 'object',
        additionalProperties: false,
        required: ['log', 'seq', 'hash', 'fields', 'body', 'signature'],
        properties: {
          log: { type: 'string' },
          seq: u64('Position in the log.'),
          hash: hex32('SHA-256(prev hash || SHA-256(body) || signature)'),
          fields: { oneOf: [ref('EntryFields'), { type: 'null' }] },
          body: { type: 'string', description: 'The exact signed bytes (RFC 8785 canonical JSON).' },
          signature: { type: 'string', contentEncoding: 'base64', description: 'ECDSA P-256 SHA-256, DER, low-S, over body; base64.' },
        },
      },
      EntryPage: {
        type: 'object',
        additionalProperties: false,
        required: ['entries', 'next'],
        properties: { entries: { type: 'array', items: ref('Entry') }, next: { type: ['integer', 'null'], minimum: 0, description: 'The start of the next page (with order=desc: its end); null: no more.' } },
      },
      EntryLine: {
        description: 'One line of the JSON Lines stream: an entry, or the error that ended the stream.',
        oneOf: [ref('Entry'), { type: 'object', additionalProperties: false, required: ['error'], properties: { error: ref('Error') } }],
      },
      Checkpoint: {
        type: 'object',
        additionalProperties: false,
        required: ['log', 'size', 'rootHash', 'note'],
        properties: {
          log: { type: 'string' },
          size: u64('Tree size.'),
          rootHash: hex32('RFC 6962 root'),
          note: { type: 'string', description: 'C2SP signed note.' },
          cosignatures: { type: 'array', items: { type: 'string' }, description: 'Witness cosignature lines on `note` (docs/format.md section 9); absent when none was collected.' },
        },
      },
      Receipt: {
        type: 'object',
        additionalProperties: false,
        required: ['log', 'seq', 'hash', 'replayed', 'entry', 'checkpoint', 'inclusionProof'],
        description: 'What `cairn verify-receipt` checks offline.',
        properties: {
          log: { type: 'string' },
          seq: u64('The entry\'s seq.'),
          hash: hex32('The entry hash'),
          replayed: { type: 'boolean', description: 'True: the request_id was recorded before; this is the original receipt.' },
          entry: ref('Entry'),
          checkpoint: { type: 'object', additionalProperties: false, required: ['size', 'rootHash', 'note'], properties: { size: u64('Tree size.'), rootHash: hex32('RFC 6962 root'), note: { type: 'string' } } },
          inclusionProof: { type: 'array', items: hex32('Audit path node') },
          keyChain: { type: 'array', items: ref('KeyLink'), description: 'Present once the node has rotated its key.' },
        },
      },
      InclusionProof: {
        type: 'object',
        additionalProperties: false,
        required: ['log', 'seq', 'size', 'hashes', 'checkpoint'],
        properties: { log: { type: 'string' }, seq: u64('The entry.'), size: u64('Tree size.'), hashes: { type: 'array', items: hex32('Audit path node') }, checkpoint: ref('Checkpoint') },
      },
      ConsistencyProof: {
        type: 'object',
        additionalProperties: false,
        required: ['log', 'fromSize', 'toSize', 'hashes', 'checkpoint'],
        properties: { log: { type: 'string' }, fromSize: u64('Older size.'), toSize: u64('Newer size.'), hashes: { type: 'array', items: hex32('Proof node') }, checkpoint: ref('Checkpoint') },
      },
      FederationStatus: {
        type: 'object',
        additionalProperties: false,
        required: ['nodeName', 'vector', 'peers', 'equivocations'],
        properties: {
          nodeName: { type: 'string' },
          vector: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['origin', 'log', 'size', 'rootHash', 'note', 'acceptedAtMs'],
              properties: { origin: { type: 'string' }, log: { type: 'string' }, size: u64('Entries.'), rootHash: hex32('Root'), note: { type: 'string', description: 'The origin\'s signed checkpoint.' }, acceptedAtMs: u64('When this node accepted it (0: its own log).') },
            },
          },
          peers: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['name', 'endpoint', 'follow', 'witness', 'reachable', 'lastError', 'lastContactMs', 'logs', 'cosignaturesGiven', 'cosignaturesReceived'],
              properties: {
                name: { type: 'string' },
                endpoint: { type: 'string' },
                follow: { type: 'boolean' },
                witness: { type: 'boolean' },
                reachable: { type: 'boolean' },
                lastError: { type: 'string' },
                lastContactMs: u64('Last successful contact, ms since the epoch.'),
                logs: {
                  type: 'array',
                  items: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['origin', 'log', 'peerSize', 'localSize', 'lagEntries', 'lagSeconds'],
                    properties: { origin: { type: 'string' }, log: { type: 'string' }, peerSize: u64('Size the peer holds.'), localSize: u64('Size this node holds.'), lagEntries: u64('Entries behind.'), lagSeconds: { type: 'number', minimum: 0 } },
                  },
                },
                cosignaturesGiven: u64('Checkpoints of this peer this node cosigned.'),
                cosignaturesReceived: u64('Checkpoints of this node the peer cosigned.'),
              },
            },
          },
          equivocations: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['origin', 'log', 'kind', 'reason', 'acceptedNote', 'conflictingNote', 'peer', 'atMs'],
              properties: { origin: { type: 'string' }, log: { type: 'string' }, kind: { enum: ['fork', 'rollback', 'inconsistent'] }, reason: { type: 'string' }, acceptedNote: { type: 'string' }, conflictingNote: { type: 'string' }, peer: { type: 'string' }, atMs: u64('When it was caught.') },
            },
          },
        },
      },
      Logs: { type: 'object', additionalProperties: false, required: ['logs'], properties: { logs: { type: 'array', items: ref('Checkpoint') } } },
      PublicKey: {
        type: 'object',
        additionalProperties: false,
        required: ['algorithm', 'keyId', 'nodeName', 'pem', 'spki'],
        properties: {
          algorithm: { const: 'ecdsa-p256-sha256' },
          keyId: hex('Key id'),
          nodeName: { type: 'string', description: 'The key name on checkpoint signatures.' },
          pem: { type: 'string', description: 'SubjectPublicKeyInfo, PEM.' },
          spki: { type: 'string', contentEncoding: 'base64', description: 'SubjectPublicKeyInfo, DER, base64.' },
        },
      },
      KeyLink: {
        type: 'object',
        additionalProperties: false,
        required: ['signature', 'statement'],
        properties: {
          signature: { type: 'string', contentEncoding: 'base64' },
          statement: {
            type: 'object',
            additionalProperties: false,
            required: ['next', 'node', 'prev', 'time', 'type'],
            properties: { next: { type: 'string' }, node: { type: 'string' }, prev: { type: 'string' }, time: { type: 'string' }, type: { type: 'string' } },
          },
        },
      },
      KeyChain: {
        type: 'object',
        additionalProperties: false,
        required: ['keyId', 'nodeName', 'keyChain'],
        properties: { keyId: hex('Current key id'), nodeName: { type: 'string' }, keyChain: { type: 'array', items: ref('KeyLink') } },
      },
      AnchorCheckpoint: {
        type: 'object',
        additionalProperties: false,
        required: ['log', 'size', 'rootHash', 'note'],
        properties: { log: { type: 'string' }, size: u64('Tree size.'), rootHash: hex32('RFC 6962 root'), note: { type: 'string' } },
      },
      Anchor: {
        type: 'object',
        additionalProperties: false,
        required: ['window', 'root', 'node', 'checkpoints', 'state', 'txId', 'block', 'backend', 'createdAtMs', 'committedAtMs', 'oldestCheckpointAtMs'],
        properties: {
          window: u64('Window number.'),
          root: hex32('Window root (docs/anchoring.md)'),
          node: { type: 'string' },
          checkpoints: { type: 'array', items: ref('AnchorCheckpoint') },
          state: { type: 'string' },
          txId: { type: 'string', description: 'Where the window landed; empty until committed.' },
          block: u64('Block number; 0 until committed.'),
          backend: { type: 'string' },
          createdAtMs: u64('When the window was built (Unix ms).'),
          committedAtMs: u64('When it was committed (Unix ms); 0 while pending.'),
          oldestCheckpointAtMs: u64('When its oldest checkpoint was issued (Unix ms): the anchor lag is committedAtMs minus this.'),
        },
      },
      Anchors: { type: 'object', additionalProperties: false, required: ['anchors'], properties: { anchors: { type: 'array', items: ref('Anchor') } } },
      AnchorProof: {
        type: 'object',
        additionalProperties: false,
        required: ['window', 'root', 'index', 'count', 'path', 'checkpoint', 'txId', 'block', 'backend', 'state'],
        properties: {
          window: u64('Window number.'),
          root: hex32('Window root'),
          index: { type: 'integer', minimum: 0 },
          count: { type: 'integer', minimum: 1 },
          path: { type: 'array', items: hex32('Sibling hash') },
          checkpoint: ref('AnchorCheckpoint'),
          txId: { type: 'string' },
          block: u64('Block number; 0 until committed.'),
          backend: { type: 'string' },
          state: { type: 'string' },
        },
      },
      ArgoCdEvent: {
        type: 'object',
        additionalProperties: false,
        required: ['event', 'instance', 'app'],
        description: 'What the templates of docs/integrations/argocd.md render: the event name, the Argo CD URL and the parts of the Application resource the entry needs.',
        properties: {
          event: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,39}$', description: 'sync-succeeded, sync-failed, sync-running, health-degraded, deployed, ...' },
          instance: { type: 'string', description: 'The Argo CD instance (context.argocdUrl): the entry\'s source.' },
          app: {
            type: 'object',
            required: ['metadata', 'spec', 'status'],
            properties: {
              metadata: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, namespace: { type: 'string' }, uid: { type: 'string' } } },
              spec: { type: 'object', required: ['project'], properties: { project: { type: 'string' }, destination: { type: 'object' } } },
              status: { type: 'object', properties: { sync: { type: 'object' }, health: { type: 'object' }, operationState: { type: 'object' } } },
            },
          },
        },
      },
      FluxEvent: {
        type: 'object',
        required: ['involvedObject', 'severity', 'reason', 'message', 'reportingController', 'timestamp'],
        description: 'An Event of fluxcd/pkg/apis/event/v1, as the generic-hmac provider posts it.',
        properties: {
          involvedObject: { type: 'object', required: ['kind', 'namespace', 'name'], properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, namespace: { type: 'string' }, name: { type: 'string' }, uid: { type: 'string' } } },
          severity: { enum: ['info', 'error', 'trace'] },
          reason: { type: 'string' },
          message: { type: 'string' },
          metadata: { type: 'object', additionalProperties: { type: 'string' } },
          reportingController: { type: 'string' },
          reportingInstance: { type: 'string' },
          timestamp: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
} as const;

/** The operations of the document: the route table. */
export type OperationId = {
  [P in keyof typeof OPENAPI.paths]: { [M in keyof (typeof OPENAPI.paths)[P]]: (typeof OPENAPI.paths)[P][M] extends { operationId: infer O } ? O : never }[keyof (typeof OPENAPI.paths)[P]];
}[keyof typeof OPENAPI.paths];

export interface Operation {
  operationId: OperationId;
  method: 'GET' | 'POST';
  /** OpenAPI path template (`/v1/logs/{log}`). */
  path: string;
  /** Query parameters it accepts (names as sent). */
  query: readonly string[];
}

/** Every operation of the document. */
export function operations(): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(OPENAPI.paths)) {
    for (const [method, op] of Object.entries(item as Record<string, { operationId: OperationId; parameters?: readonly Json[] }>)) {
      const query = (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name as string);
      out.push({ operationId: op.operationId, method: method.toUpperCase() as 'GET' | 'POST', path, query });
    }
  }
  return out;
}
