/**
 * Writes docs/API.md, the API reference, from the code itself: the signatures and doc comments of
 * what src/api/index.ts exports (read with the TypeScript compiler, a devDependency), and a table per
 * call from the option specifications (the same ones the CLI's --help and the types come from).
 *
 *   npm run docs            # rewrite docs/API.md
 * test/api.test.ts fails when docs/API.md is not what this script writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { DEMO_OPTIONS } from '../src/api/demo.js';
import { EVALUATE_OPTIONS, EXPORT_OPTIONS, GENERATE_OPTIONS, LOAD_OPTIONS, QUANTIZE_OPTIONS, TASK_OPTIONS } from '../src/api/options.js';
import { METHODS } from '../src/quant/registry.js';
import { ROOT } from '../src/api/assets.js';
import { describeAccepted, kebab, type OptionSpecs } from '../src/util/options.js';

export const API_REFERENCE = path.join(ROOT, 'docs', 'API.md');

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function optionTable(specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const shown = s.defaultText ?? (s.default === undefined ? (s.required ? '**required**' : '—') : JSON.stringify(s.default));
    return `| \`${name}\` | \`--${kebab(name)}\` | ${cell(describeAccepted(s))} | ${cell(shown)} | ${cell(s.description)} |`;
  });
  return ['| option | CLI flag | value | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** A member's type as written in the source (deterministic, and as readable as its author made it). */
function memberType(checker: ts.TypeChecker, p: ts.Symbol, at: ts.Node): string {
  return oneLine(writtenType(checker, p, at));
}

const oneLine = (code: string) => code.replace(/\/\*\*[\s\S]*?\*\//g, '').replace(/\s+/g, ' ').replace(/; }/g, ' }');

function writtenType(checker: ts.TypeChecker, p: ts.Symbol, at: ts.Node): string {
  const d = p.valueDeclaration ?? p.declarations?.[0];
  if (d && (ts.isPropertySignature(d) || ts.isPropertyDeclaration(d) || ts.isParameter(d) || ts.isGetAccessorDeclaration(d)) && d.type) return d.type.getText();
  if (d && (ts.isMethodDeclaration(d) || ts.isMethodSignature(d))) return `(${d.parameters.map((x) => x.getText()).join(', ')}) => ${d.type?.getText() ?? 'void'}`;
  return checker.typeToString(checker.getTypeOfSymbolAtLocation(p, at), undefined, ts.TypeFormatFlags.NoTruncation);
}

/** Private, @internal, or inherited from outside lowbit (Error's members): not part of the reference. */
function isHidden(p: ts.Symbol): boolean {
  const d = p.valueDeclaration ?? p.declarations?.[0];
  if (!d || !d.getSourceFile().fileName.startsWith(path.join(ROOT, 'src'))) return true;
  if (ts.getCombinedModifierFlags(d as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) return true;
  return ts.getJSDocTags(d).some((t) => t.tagName.text === 'internal');
}

/** One exported symbol as Markdown: its declaration as written, its doc comment, its members. */
function describeSymbol(checker: ts.TypeChecker, exported: ts.Symbol): string | null {
  const sym = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  const decl = sym.declarations?.[0];
  if (!decl) return null;
  const doc = ts.displayPartsToString(sym.getDocumentationComment(checker)).trim();
  const name = exported.getName();
  const block = (kind: string, code: string | null, members: string[] = []) =>
    [`### ${kind} \`${name}\``, ...(code ? ['', '```ts', code, '```'] : []), ...(doc ? ['', doc] : []), ...(members.length ? ['', ...members] : [])].join('\n');
  const members = (props: ts.Symbol[]) => props.filter((p) => !isHidden(p)).map((p) => {
    const pdoc = ts.displayPartsToString(p.getDocumentationComment(checker)).replace(/\s+/g, ' ').trim();
    const d = p.valueDeclaration ?? p.declarations?.[0];
    const optional = d && (ts.isPropertySignature(d) || ts.isPropertyDeclaration(d)) && d.questionToken ? '?' : '';
    return `- \`${p.getName()}${optional}\`: \`${memberType(checker, p, decl)}\`${pdoc ? ` — ${pdoc}` : ''}`;
  });
  if (ts.isFunctionDeclaration(decl)) return block('function', `${name}(${decl.parameters.map((p) => p.getText()).join(', ')}): ${decl.type?.getText()}`);
  if (ts.isClassDeclaration(decl)) {
    const statics = checker.getTypeOfSymbolAtLocation(sym, decl).getProperties().filter((p) => !isHidden(p));
    return block('class', null, [...members(checker.getDeclaredTypeOfSymbol(sym).getProperties()), ...members(statics).map((m) => m.replace('- `', '- static `'))]);
  }
  if (ts.isInterfaceDeclaration(decl)) {
    const heritage = decl.heritageClauses?.map((h) => h.getText()).join(' ');
    return block('interface', heritage ? `interface ${name} ${heritage}` : null, members(checker.getDeclaredTypeOfSymbol(sym).getProperties()));
  }
  if (ts.isTypeAliasDeclaration(decl)) return block('type', decl.getText().replace(/^export\s+/, ''));
  if (ts.isVariableDeclaration(decl)) {
    // The option specifications appear as the tables above; their literal types would fill pages.
    if (/_OPTIONS$|^DEMO_RUNS$/.test(name)) return null;
    return block('const', `const ${name}: ${decl.type?.getText() ?? checker.typeToString(checker.getTypeOfSymbolAtLocation(sym, decl))}`);
  }
  return null;
}

export function apiReference(): string {
  const entry = path.join(ROOT, 'src', 'api', 'index.ts');
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true, skipLibCheck: true, noEmit: true, types: ['node', '@webgpu/types'], typeRoots: [path.join(ROOT, 'node_modules', '@types'), path.join(ROOT, 'node_modules', '@webgpu')],
  });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  const sections = checker.getExportsOfModule(moduleSymbol).map((s) => describeSymbol(checker, s)).filter((s): s is string => s !== null);
  const methods = Object.values(METHODS).map((m) => `#### ${m.name} (${m.kind})\n\n${m.summary}\n\n${Object.keys(m.options).length ? optionTable(m.options) : 'No options of its own.'}`);
  return `# lowbit API reference

Generated by \`npm run docs\` (scripts/api-reference.ts) from the doc comments and the option specifications;
do not edit. The README's "API" section shows how the calls fit together.

## Options

Every option is the CLI flag of the same name in camelCase; both are made from these specifications.

### quantize(model, options)

${optionTable(QUANTIZE_OPTIONS)}

Besides these, each method's own options (given with \`method\`):

${methods.join('\n\n')}

### loadModel(path, options)

${optionTable(LOAD_OPTIONS)}

### evaluate(model, data, options)

${optionTable(EVALUATE_OPTIONS)}

(with a path instead of a loaded model, also loadModel's options)

### evaluateTasks(model, options)

${optionTable(TASK_OPTIONS)}

(with a path instead of a loaded model, also loadModel's options)

### generate(model, prompt, options)

${optionTable(GENERATE_OPTIONS)}

(with a path instead of a loaded model, also loadModel's options)

### exportGguf(dir, options)

${optionTable(EXPORT_OPTIONS)}

### demo(options)

${optionTable(DEMO_OPTIONS)}

Every call also takes \`onProgress\` and \`signal\` (\`RunControl\`).

## Exports

${sections.join('\n\n')}
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  fs.mkdirSync(path.dirname(API_REFERENCE), { recursive: true });
  fs.writeFileSync(API_REFERENCE, apiReference());
  console.log(`wrote ${path.relative(process.cwd(), API_REFERENCE)}`);
}
