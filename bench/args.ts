/** The value of `--name=value` on the bench's command line (section options such as --model-dir). */
export function benchArg(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}
