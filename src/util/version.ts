/**
 * lowbit's version, written into every output (lowbit.json, GGUF's lowbit.version). A constant, so
 * the core needs no file access to know it (a browser has no package.json to read);
 * test/portable.test.ts checks it against package.json's.
 */
export const VERSION: string = '0.1.0';
