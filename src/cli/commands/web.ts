import type { Command } from 'commander';
import { serveWebPage } from '../../api/web.js';
import { LowbitError } from '../../util/errors.js';

export function registerWeb(program: Command): void {
  program
    .command('web')
    .description('serve the browser page: quantize a model into GGUF in your browser, nothing uploaded')
    .option('--port <n>', 'port to listen on (0: any free port)', '8600')
    .option('--host <address>', 'address to listen on (the default keeps the page to this machine)', '127.0.0.1')
    .addHelpText('after', `
Open the printed address in Chrome or Edge (WebGPU; other browsers quantize on the CPU).
Pick a Hugging Face model folder (config.json, *.safetensors, tokenizer.json), choose a GGUF type and
download the file. The page reads the files from your disk in the browser; this server only serves
the page. The same files (dist/web/) can be put on any static file host. Ctrl-C stops the server.`)
    .action(async (o: { port: string; host: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new LowbitError(`--port must be a port number (0-65535), got ${o.port}`);
      const server = await serveWebPage({ port, host: o.host });
      console.log(`lowbit web page at ${server.url} (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => void server.close().then(resolve)));
    });
}
