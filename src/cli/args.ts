/** Argument parsers for commander options, with one-line errors that name the option. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { accepts, describeAccepted, kebab, type OptionSpec, type OptionSpecs } from '../util/options.js';

export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ` >= ${min}`}, got "${value}"`);
    return n;
  };
}

export function numberArg(min: number, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected a number${Number.isFinite(max) ? ` from ${min} to ${max}` : ` >= ${min}`}, got "${value}"`);
    return n;
  };
}

/** Writes a JSON value as one line to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** A fixed-width text table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** What --help shows as an option's default, if anything. */
export function defaultText(spec: OptionSpec): string | undefined {
  return spec.defaultText ?? (spec.default === undefined ? undefined : JSON.stringify(spec.default));
}

/** The commander option of an API option: `groupSize` -> `--group-size <n>`, checked by its specification. */
export function specOption(name: string, spec: OptionSpec, help = spec.description): Option {
  const flag = `--${kebab(name)}`;
  const shown = defaultText(spec);
  const text = shown === undefined || spec.required ? help : `${help} (default: ${shown})`;
  if (spec.type === 'boolean') return new Option(flag, text);
  const option = new Option(`${flag} <${spec.valueName ?? (spec.type === 'string' ? 'value' : spec.type === 'int' ? 'n' : spec.type === 'list' ? 'a,b,...' : 'x')}>`, text);
  if (spec.required) option.makeOptionMandatory();
  if (spec.choices && spec.type !== 'list') return option.choices([...spec.choices]);
  return option.argParser((value: string) => {
    const parsed = spec.parseText ? spec.parseText(value)
      : spec.type === 'string' ? value
      : spec.type === 'list' ? value.split(',').map((v) => v.trim()).filter(Boolean)
      : Number(value);
    if (!accepts(spec, parsed)) throw new InvalidArgumentError(`expected ${describeAccepted(spec)}, got "${value}"`);
    return parsed;
  });
}

/**
 * Adds a flag for every option in `specs` (commander sets no defaults: the API applies them, so the
 * CLI and the library cannot disagree). A negatable boolean also gets `--no-<flag>`.
 */
export function addSpecOptions(cmd: Command, specs: OptionSpecs): Command {
  for (const [name, spec] of Object.entries(specs)) addSpecOption(cmd, name, spec);
  return cmd;
}

/** One option's flag, and `--no-<flag>` when it is a negatable boolean. */
export function addSpecOption(cmd: Command, name: string, spec: OptionSpec): void {
  cmd.addOption(specOption(name, spec));
  if (spec.type === 'boolean' && spec.negatable) cmd.addOption(new Option(`--no-${kebab(name)}`, `turn --${kebab(name)} off`).hideHelp());
}

/** The options commander parsed, without the CLI's own (e.g. --json, --data): what the API takes. */
export function apiOptions<T extends object>(parsed: object, cliOnly: readonly string[]): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed)) if (!cliOnly.includes(k) && v !== undefined) out[k] = v;
  return out as T;
}
