// Checks for data that crosses a boundary from a side we do not trust or type (a webview, a command line,
// a saved experiment, a worker message). A schema is written once and gives both the run-time check and
// the TypeScript type (`Infer<typeof schema>`), so a protocol's params and their validation cannot drift
// apart. A failed check throws RpcError('bad-input') naming the field, e.g. "lens/run: targets[2] must be
// a token id". Objects refuse fields they do not define (a misspelt parameter is an error, not ignored).
// Runtime-agnostic: no vscode, node or DOM imports.
import { RpcError } from './rpc';

export interface Schema<T> {
  /** Returns `value` typed, or throws bad-input; `where` names the value in the message. */
  parse(value: unknown, where: string): T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

export function badInput(message: string): never {
  throw new RpcError('bad-input', message);
}

export function integer(min = 0, max = Number.MAX_SAFE_INTEGER, what = `an integer from ${min} to ${max}`): Schema<number> {
  return {
    parse(v, where) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) badInput(`${where} must be ${what}`);
      return v;
    },
  };
}

export function finiteNumber(min = -Infinity, max = Infinity): Schema<number> {
  return {
    parse(v, where) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) badInput(`${where} must be a number${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` <= ${max}` : ''}`);
      return v;
    },
  };
}

export const boolean: Schema<boolean> = {
  parse(v, where) {
    if (typeof v !== 'boolean') badInput(`${where} must be true or false`);
    return v;
  },
};

/** A string of at most `maxLength` characters; with `pattern`, one that matches it (`what` says what it is). */
export function string(maxLength: number, pattern?: RegExp, what?: string): Schema<string> {
  return {
    parse(v, where) {
      if (typeof v !== 'string' || v.length > maxLength) badInput(`${where} must be a string of at most ${maxLength} characters`);
      if (pattern && !pattern.test(v)) badInput(`${where} must be ${what ?? `a string matching ${pattern.source}`}`);
      return v;
    },
  };
}

export function oneOf<const V extends readonly string[]>(values: V): Schema<V[number]> {
  return {
    parse(v, where) {
      if (typeof v !== 'string' || !values.includes(v)) badInput(`${where} must be one of ${values.join(', ')}`);
      return v;
    },
  };
}

export function list<T>(item: Schema<T>, maxLength: number): Schema<T[]> {
  return {
    parse(v, where) {
      if (!Array.isArray(v) || v.length > maxLength) badInput(`${where} must be a list of at most ${maxLength} items`);
      return v.map((x, i) => item.parse(x, `${where}[${i}]`));
    },
  };
}

/** May be absent (or undefined). */
export interface OptionalSchema<T> extends Schema<T | undefined> {
  readonly optional: true;
}

export function optional<T>(schema: Schema<T>): OptionalSchema<T> {
  return { optional: true, parse: (v, where) => (v === undefined ? undefined : schema.parse(v, where)) };
}

type Fields = Record<string, Schema<unknown>>;
type OptionalKeys<F extends Fields> = { [K in keyof F]: F[K] extends OptionalSchema<unknown> ? K : never }[keyof F];
type Simplify<T> = { [K in keyof T]: T[K] };
export type ObjectOf<F extends Fields> = Simplify<{ [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: Infer<F[K]> }>;

export interface ObjectSchema<F extends Fields> extends Schema<ObjectOf<F>> {
  readonly fields: F;
  /** The same checks for some of the fields (e.g. what a panel may choose of an analysis' params). */
  pick<K extends keyof F & string>(...keys: K[]): ObjectSchema<Pick<F, K>>;
}

export function object<F extends Fields>(fields: F): ObjectSchema<F> {
  return {
    fields,
    parse(v, where) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) badInput(`${where} must be an object`);
      const input = v as Record<string, unknown>;
      for (const key of Object.keys(input)) {
        if (!Object.prototype.hasOwnProperty.call(fields, key) && input[key] !== undefined) {
          badInput(`${where}: unknown field "${key}"${Object.keys(fields).length ? ` (expected ${Object.keys(fields).join(', ')})` : ''}`);
        }
      }
      const out: Record<string, unknown> = {};
      for (const [key, schema] of Object.entries(fields)) {
        const value = schema.parse(input[key], `${where}: ${key}`);
        if (value !== undefined) out[key] = value;
      }
      return out as ObjectOf<F>;
    },
    pick(...keys) {
      return object(Object.fromEntries(keys.map((k) => [k, fields[k]])) as Pick<F, (typeof keys)[number]>);
    },
  };
}

/** Adds a check across fields (e.g. a PNG export must be a PNG data URL). */
export function refine<T>(schema: Schema<T>, check: (value: T, where: string) => void): Schema<T> {
  return {
    parse(v, where) {
      const value = schema.parse(v, where);
      check(value, where);
      return value;
    },
  };
}

/** Params of a method that takes none. */
export const noParams = object({});

/**
 * The RPC `validate` hook for a table of params schemas, one per method: an unknown method or bad params
 * are refused before any handler runs.
 */
export function paramsValidator(table: Record<string, Schema<unknown>>): (method: string, params: unknown) => void {
  return (method, params) => {
    if (!Object.prototype.hasOwnProperty.call(table, method)) badInput(`unknown method ${method}`);
    table[method]!.parse(params, method);
  };
}
