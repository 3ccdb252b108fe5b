/**
 * A small static file server for the browser tests and the demo page: bound to 127.0.0.1 only, serving
 * folders under URL prefixes (no directory listings, nothing outside the mounted folders).
 */
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import type {AddressInfo} from 'net';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** URL prefix (starting and ending with '/') -> folder served under it. */
export type Mounts = Record<string, string>;

export interface StaticServer {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  /** Paths requested that were not found (the tests require none). */
  notFound: string[];
  close(): Promise<void>;
}

function resolveFile(mounts: Mounts, urlPath: string): string | null {
  // Longest prefix first, so '/vendor/' wins over '/'.
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  for (const prefix of prefixes) {
    if (urlPath.startsWith(prefix)) {
      const root = path.resolve(mounts[prefix]);
      let file = path.resolve(root, `.${urlPath.slice(prefix.length - 1)}`);
      if (file !== root && !file.startsWith(root + path.sep)) {
        return null;
      }
      if (fs.existsSync(file) && fs.statSync(file).isDirectory()) {
        file = path.join(file, 'index.html');
      }
      return fs.existsSync(file) && fs.statSync(file).isFile() ? file : null;
    }
  }
  return null;
}

/** Serves `mounts` on 127.0.0.1 (`port` 0: any free port). */
export async function serveStatic(mounts: Mounts, port = 0): Promise<StaticServer> {
  for (const prefix of Object.keys(mounts)) {
    if (!prefix.startsWith('/') || !prefix.endsWith('/')) {
      throw new Error(`serveStatic: mount prefix must start and end with '/', got ${JSON.stringify(prefix)}`);
    }
  }
  const notFound: string[] = [];
  const server = http.createServer((req, res) => {
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    } catch {
      urlPath = '';
    }
    const file = req.method === 'GET' || req.method === 'HEAD' ? resolveFile(mounts, urlPath) : null;
    if (file == null) {
      notFound.push(urlPath);
      res.writeHead(404, {'content-type': 'text/plain'});
      res.end(`not found: ${urlPath}`);
      return;
    }
    const body = fs.readFileSync(file);
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}/`,
    notFound,
    close: () => new Promise<void>(resolve => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The folder of an installed package (resolved from this repository). */
export function packageDir(name: string): string {
  return path.dirname(require.resolve(`${name}/package.json`));
}

/**
 * tfjs's UMD bundles and the wasm backend's .wasm files, under `/vendor/<package>/`: `tf.min.js`,
 * `tf-backend-wasm.min.js` (+ its .wasm files, for `tf.wasm.setWasmPaths('/vendor/tfjs-backend-wasm/')`),
 * `tf-backend-webgpu.min.js`.
 */
export function tfjsVendorMounts(): Mounts {
  const mounts: Mounts = {};
  for (const name of ['tfjs', 'tfjs-backend-wasm', 'tfjs-backend-webgpu']) {
    mounts[`/vendor/${name}/`] = path.join(packageDir(`@tensorflow/${name}`), 'dist');
  }
  return mounts;
}
