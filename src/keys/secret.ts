/**
 * A secret setting (a private key from the environment). Kept in a private
 * field and rendered as "[redacted]" by String(), JSON.stringify and
 * util.inspect, so a config object that reaches a log line or an error
 * message never carries the key.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The secret itself: only for the one place that uses it. */
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Secret([redacted])';
  }
}
