/**
 * serveWebPage(): the browser page (dist/web/, built from src/web/ and web/) served on this machine.
 * The page reads the model from the visitor's own disk and quantizes it in their browser; this
 * server only hands out the page's static files (nothing is uploaded to it), on the loopback
 * address unless told otherwise. Any static file host can serve dist/web/ the same way.
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './assets.js';
import { LowbitError } from '../util/errors.js';

/** Where the built page is. */
export const WEB_ROOT = path.join(ROOT, 'dist', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml',
};

export interface WebServer {
  /** The page's address, e.g. http://127.0.0.1:8600/ */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the page's files over HTTP (`lowbit web`); resolves once listening. Port 0 takes any
 * free port (the returned url says which).
 */
export async function serveWebPage(options: { port?: number; host?: string } = {}): Promise<WebServer> {
  if (!fs.existsSync(path.join(WEB_ROOT, 'index.html'))) throw new LowbitError('the browser page is not built: run npm run build', WEB_ROOT);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const rel = decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname);
    const file = path.resolve(WEB_ROOT, '.' + rel);
    if (!file.startsWith(WEB_ROOT + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    fs.createReadStream(file).pipe(res);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new LowbitError(e.code === 'EADDRINUSE' ? `port ${options.port} is in use: pass another --port` : e.message)));
    server.listen(options.port ?? 8600, host, resolve);
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
