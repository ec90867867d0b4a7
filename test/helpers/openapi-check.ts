/**
 * Checks answers of the HTTP API against its OpenAPI 3.1 document with Ajv
 * (JSON Schema 2020-12, the dialect OpenAPI 3.1 uses) and ajv-formats, and
 * keeps count of the operations a test run exercised.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { OPENAPI } from '../../src/http/openapi.js';
import type { HttpAnswer } from './http.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

type Json = Record<string, any>;
const doc = OPENAPI as unknown as Json;

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
// The whole document under one id, so `#/components/...` references resolve inside it.
ajv.addSchema(doc, 'openapi.json');
const SCHEMA_KEYWORDS_OUTSIDE = /^x-/;

function validate(schema: Json, value: unknown): string[] {
  // Local references point into the document.
  const rebased = JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, '"$ref":"openapi.json#/')) as Json;
  for (const k of Object.keys(rebased)) if (SCHEMA_KEYWORDS_OUTSIDE.test(k)) delete rebased[k];
  const v = ajv.compile(rebased);
  return v(value) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

function resolveRef(o: Json): Json {
  if (typeof o.$ref !== 'string') return o;
  return (o.$ref as string).slice(2).split('/').reduce((acc: Json, k: string) => acc[k], doc);
}

/** The operation of `method` on the OpenAPI path template `template`. */
export function operation(method: string, template: string): Json {
  const op = doc.paths[template]?.[method.toLowerCase()];
  if (!op) throw new Error(`the document has no ${method} ${template}`);
  return op;
}

export class OpenApiCheck {
  /** operationId -> statuses seen. */
  readonly seen = new Map<string, Set<number>>();

  /**
   * Problems of `answer` against the document: an undocumented status or media
   * type, or a body the schema refuses. Empty when it conforms.
   */
  problems(method: string, template: string, answer: HttpAnswer): string[] {
    const op = operation(method, template);
    const id = op.operationId as string;
    if (!this.seen.has(id)) this.seen.set(id, new Set());
    this.seen.get(id)!.add(answer.status);
    const where = `${method} ${template} -> ${answer.status}`;
    const response = op.responses[String(answer.status)] ?? op.responses.default;
    if (!response) return [`${where}: status not in the document`];
    const content = resolveRef(response).content as Json | undefined;
    const type = String(answer.headers['content-type'] ?? '').split(';')[0]!.trim();
    const media = content?.[type];
    if (!media) return [`${where}: content type ${type || '(none)'} not in the document`];
    if (response.$ref === '#/components/responses/E429' && !/^[1-9][0-9]*$/.test(String(answer.headers['retry-after']))) return [`${where}: no Retry-After`];
    if (type === 'application/json') return validate(media.schema, answer.json).map((p) => `${where}: ${p}`);
    if (type === 'application/jsonl') {
      const lines = answer.text.split('\n');
      if (lines.pop() !== '') return [`${where}: JSON Lines must end with a newline`];
      return lines.flatMap((l, i) => validate(media['x-line-schema'], JSON.parse(l)).map((p) => `${where}: line ${i}: ${p}`));
    }
    return validate(media.schema, answer.text).map((p) => `${where}: ${p}`);
  }

  /** Operations of the document no answer has exercised with a 2xx status. */
  untested(): string[] {
    const all: string[] = [];
    for (const item of Object.values(doc.paths as Json)) for (const op of Object.values(item as Json)) all.push((op as Json).operationId);
    return all.filter((id) => ![...(this.seen.get(id) ?? [])].some((s) => s >= 200 && s < 300));
  }
}
