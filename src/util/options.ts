/**
 * Option specifications: the one description of every option lowbit takes, read three ways.
 *   - The library's option types are computed from them (`OptionValues`), so a typo or a wrong
 *     type is a compile error in TypeScript;
 *   - the library checks the values it is given against them (`checkOptions`), for JavaScript
 *     callers and for values that types cannot bound (ranges, integers);
 *   - the CLI turns each into a flag (`camelName` -> `--kebab-name`) with the same description,
 *     default and bounds in `--help`.
 * So `--help`, the types and the checks cannot drift apart.
 */
import { LowbitError } from './errors.js';

export type OptionValue = number | string | boolean | readonly string[];

export interface OptionSpec {
  /**
   * int and number are numbers (int: an integer); string may be limited to `choices`; list is an
   * array of strings (each among `choices` when given; the CLI takes it comma-separated).
   */
  readonly type: 'int' | 'number' | 'string' | 'boolean' | 'list';
  /** One line for --help and the API reference. */
  readonly description: string;
  /** The value used when the option is not given; omitted when "not given" means something of its own. */
  readonly default?: OptionValue;
  /** What --help shows as the default when it is computed, e.g. "128 (lrc: per channel)". */
  readonly defaultText?: string;
  /** Inclusive bounds of a number. */
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  /** The caller must give it (the CLI: a required flag). */
  readonly required?: boolean;
  /** The CLI's name of the value in --help, e.g. "file" for `--data <file>`. */
  readonly valueName?: string;
  /** The CLI also accepts `--no-<flag>` (a boolean whose absence means "decide for me"). */
  readonly negatable?: boolean;
  /** The CLI's parser of the text after the flag, when it accepts more spellings than the API (e.g. "channel"). */
  readonly parseText?: (text: string) => OptionValue;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** The TypeScript type of one option's value. */
export type ValueOf<S extends OptionSpec> =
  S['type'] extends 'boolean' ? boolean
  : S['type'] extends 'int' | 'number' ? number
  : S['type'] extends 'list' ? string[]
  : S extends { readonly choices: readonly (infer C)[] } ? C
  : string;

type RequiredKeys<T extends OptionSpecs> = { [K in keyof T]: T[K] extends { readonly required: true } ? K : never }[keyof T];

/** The options object described by `T`: required options are required, the rest optional. */
export type OptionValues<T extends OptionSpecs> =
  { -readonly [K in RequiredKeys<T>]: ValueOf<T[K]> } & { -readonly [K in Exclude<keyof T, RequiredKeys<T>>]?: ValueOf<T[K]> };

/** "outlierRatio" -> "outlier-ratio": the CLI flag of an option. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** How errors name an option, for library and CLI users alike: "groupSize (--group-size)". */
export function optionLabel(name: string): string {
  return `${name} (--${kebab(name)})`;
}

/** A one-line description of what an option accepts, e.g. "an integer from 2 to 8". */
export function describeAccepted(spec: OptionSpec): string {
  if (spec.type === 'list') return spec.choices ? `a list of ${spec.choices.join(', ')}` : 'a list of strings';
  if (spec.choices) return `one of ${spec.choices.join(', ')}`;
  if (spec.type === 'boolean') return 'true or false';
  if (spec.type === 'string') return 'a string';
  const what = spec.type === 'int' ? 'an integer' : 'a number';
  const { min, max } = spec;
  if (min !== undefined && max !== undefined) return `${what} from ${min} to ${max}`;
  if (min !== undefined) return `${what} >= ${min}`;
  if (max !== undefined) return `${what} <= ${max}`;
  return `a finite ${spec.type === 'int' ? 'integer' : 'number'}`;
}

/** Whether `value` is acceptable for `spec`. */
export function accepts(spec: OptionSpec, value: unknown): boolean {
  switch (spec.type) {
    case 'boolean': return typeof value === 'boolean';
    case 'list': return Array.isArray(value) && value.every((v) => typeof v === 'string' && (!spec.choices || spec.choices.includes(v)));
    case 'string': return typeof value === 'string' && (!spec.choices || spec.choices.includes(value));
    default:
      return typeof value === 'number' && Number.isFinite(value) && (spec.type === 'number' || Number.isInteger(value)) &&
        (spec.min === undefined || value >= spec.min) && (spec.max === undefined || value <= spec.max);
  }
}

/**
 * Checks `values` against `specs` (`where` names the call in errors): every key known, every value
 * acceptable, every required option present. Keys in `alsoAllowed` (callbacks, signals, options
 * checked elsewhere) pass through unchecked. Throws a one-line LowbitError.
 */
export function checkOptions(where: string, specs: OptionSpecs, values: object, alsoAllowed: readonly string[] = []): void {
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || alsoAllowed.includes(key)) continue;
    const spec = specs[key];
    if (!spec) throw new LowbitError(`${where}: unknown option ${key} (options: ${[...Object.keys(specs), ...alsoAllowed].join(', ')})`);
    if (!accepts(spec, value)) throw new LowbitError(`${where}: option ${optionLabel(key)} must be ${describeAccepted(spec)}, got ${JSON.stringify(value)}`);
  }
  for (const [key, spec] of Object.entries(specs))
    if (spec.required && (values as Record<string, unknown>)[key] === undefined) throw new LowbitError(`${where}: option ${optionLabel(key)} is required (${spec.description})`);
}

/** `values` with every unset option that has a default set to it. */
export function withDefaults<T extends object>(specs: OptionSpecs, values: T): T {
  const out = { ...values } as Record<string, unknown>;
  for (const [key, spec] of Object.entries(specs)) if (out[key] === undefined && spec.default !== undefined) out[key] = spec.default;
  return out as T;
}
