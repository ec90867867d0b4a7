/**
 * Kubernetes resource quantities compared by value.
 *
 * The API server stores a quantity in its canonical form: a manifest's
 * `cpu: 0.5` comes back as `"500m"`, `memory: 1024Mi` as `"1Gi"`, a YAML
 * number `cpu: 1` as the string `"1"`. Compared as JSON those are drift that
 * no apply can remove, and the ledger would record them on every pass. Two
 * quantities that denote the same amount are the same here, whatever their
 * spelling.
 *
 * Grammar (k8s.io/apimachinery/pkg/api/resource):
 *   <sign>? <digits>[.<digits>] <suffix>
 *   suffix: Ki Mi Gi Ti Pi Ei | n u m "" k M G T P E | e<int> E<int>
 * The server keeps nano precision and rounds finer fractions up, so values
 * are compared in nano units, rounded up the same way.
 *
 * Pure module: no Node-only imports.
 */

const BINARY: Record<string, bigint> = { Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n, Pi: 1n << 50n, Ei: 1n << 60n };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const QUANTITY_RE = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;
/** Longer text is not a quantity anyone writes, and bounds the BigInt work. */
const MAX_LENGTH = 64;
/** Beyond this decimal exponent the server refuses the quantity anyway. */
const MAX_EXPONENT = 40;

/**
 * The amount in nano units (rounded up, as the server does), or undefined
 * when `v` is not a quantity: a string in the grammar above or a finite number.
 */
export function quantityNanos(v: unknown): bigint | undefined {
  let s: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return undefined;
    s = String(v);
  } else if (typeof v === 'string') s = v;
  else return undefined;
  if (s.length === 0 || s.length > MAX_LENGTH) return undefined;
  const m = QUANTITY_RE.exec(s);
  if (!m) return undefined;
  const [, sign, whole = '', frac = '', suffix = ''] = m;
  if (whole.length === 0 && frac.length === 0) return undefined;
  let mantissa = BigInt(whole + frac || '0');
  let exp10 = -frac.length + 9; // in nano units
  if (suffix in BINARY) mantissa *= BINARY[suffix]!;
  else if (suffix in DECIMAL) exp10 += DECIMAL[suffix]!;
  else {
    const e = Number(suffix.slice(1));
    if (Math.abs(e) > MAX_EXPONENT) return undefined;
    exp10 += e;
  }
  let nanos: bigint;
  if (exp10 >= 0) nanos = mantissa * 10n ** BigInt(exp10);
  else {
    const d = 10n ** BigInt(-exp10);
    nanos = mantissa / d + (mantissa % d === 0n ? 0n : 1n);
  }
  return sign === '-' ? -nanos : nanos;
}

/** True when both are quantities of the same amount (`0.5` and `"500m"`, `"1Gi"` and `"1024Mi"`). */
export function sameQuantity(a: unknown, b: unknown): boolean {
  const x = quantityNanos(a);
  if (x === undefined) return false;
  const y = quantityNanos(b);
  return y !== undefined && x === y;
}

/**
 * Maps whose values are quantities in the built-in kinds: container and PVC
 * `resources.requests` / `limits`, ResourceQuota `hard`, PersistentVolume
 * `capacity`, Pod `overhead`, RuntimeClass `podFixed`, LimitRange
 * `max` / `min` / `default` / `defaultRequest` / `maxLimitRequestRatio`.
 */
const QUANTITY_MAPS = new Set(['requests', 'limits', 'hard', 'capacity', 'overhead', 'podFixed', 'max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio']);

/** Single quantity fields: `emptyDir.sizeLimit`, a HorizontalPodAutoscaler metric target's `averageValue`. */
const QUANTITY_FIELDS = new Set(['sizeLimit', 'averageValue']);

/**
 * Whether the field at JSON pointer `path` holds a quantity: a value in one
 * of the maps above, one of the fields above, or an autoscaler target's
 * `value`. Only a guide: the values are compared as quantities only when
 * both sides parse as one.
 */
export function isQuantityPath(path: string): boolean {
  const end = path.lastIndexOf('/');
  if (end < 0) return false;
  const leaf = path.slice(end + 1);
  if (QUANTITY_FIELDS.has(leaf)) return true;
  const parent = path.slice(path.lastIndexOf('/', end - 1) + 1, end);
  return QUANTITY_MAPS.has(parent) || (leaf === 'value' && parent === 'target');
}
