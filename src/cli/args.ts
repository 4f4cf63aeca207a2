/** Argument parsers for commander options, with one-line errors that name the option. */
import { InvalidArgumentError, Option } from 'commander';
import { DEVICES } from '../backend/index.js';

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

/** Group size: a positive integer, or 0 / -1 / "channel" for one group per output channel. */
export function groupSizeArg(value: string): number {
  if (value === 'channel' || value === 'per-channel' || value === '-1' || value === '0') return 0;
  return intArg(1)(value);
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

/** `--device`: where forward passes run (shared by eval, generate and quantize). */
export function deviceOption(what = 'forward passes'): Option {
  return new Option('--device <device>', `where ${what} run: cpu, gpu (WebGPU: needs the npm package webgpu and a Vulkan, Metal or D3D12 driver) or auto (the GPU when one is found)`)
    .choices([...DEVICES]).default('cpu');
}
