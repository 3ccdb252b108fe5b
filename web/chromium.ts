/**
 * Launches Debian's Chromium through playwright-core (no browser download) the way the browser tests and
 * the demo's screenshots need it, and collects everything a page says on its console. The flags and what
 * they give on a machine without a GPU are documented in DEVELOPERS.md.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {chromium, type BrowserContext, type ConsoleMessage, type Page} from 'playwright-core';

/** The browser: Debian's `chromium` package, or `NATTEN_CHROMIUM` when set. */
export const CHROMIUM = process.env.NATTEN_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  // WebGPU on Linux is behind this flag; with no GPU, Dawn gives the SwiftShader (Vulkan, CPU) adapter.
  '--enable-unsafe-webgpu',
  // Running as root in a container: Chromium's sandbox needs user namespaces it does not get there.
  '--no-sandbox',
  // Nothing from the network: no component, safe-browsing or variations downloads.
  '--disable-background-networking',
  '--disable-component-update',
];

/** One console message, page error or failed request seen in a page. */
export interface PageMessage {
  type: string;
  text: string;
}

export interface Browser {
  context: BrowserContext;
  /** Opens a page whose console output is collected into `messages`. */
  newPage(): Promise<Page>;
  /** Everything every page printed, in order. */
  messages: PageMessage[];
  /** The console messages that are warnings or errors, page errors, failed and offsite requests. */
  problems(): PageMessage[];
  close(): Promise<void>;
}

function describe(message: ConsoleMessage): PageMessage {
  const at = message.location();
  const where = at.url ? ` (${at.url}:${at.lineNumber})` : '';
  return {type: message.type(), text: `${message.text()}${where}`};
}

/** Launches headless Chromium with a fresh profile folder (removed on close). */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's package (apt-get install chromium) or ` +
                    'set NATTEN_CHROMIUM to a Chromium binary (see DEVELOPERS.md)');
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'natten-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: {width: 1280, height: 900},
  });
  const messages: PageMessage[] = [];
  const watch = (page: Page) => {
    page.on('console', m => messages.push(describe(m)));
    page.on('pageerror', e => messages.push({type: 'pageerror', text: e.stack ?? e.message}));
    page.on('requestfailed', r => messages.push({type: 'requestfailed', text: `${r.url()}: ${r.failure()?.errorText}`}));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  // Pages get nothing from outside this machine: any request off 127.0.0.1 is refused and reported.
  await context.route(url => url.hostname !== '127.0.0.1', route => {
    messages.push({type: 'offsite request', text: route.request().url()});
    return route.abort('blockedbyclient');
  });
  return {
    context,
    messages,
    newPage: () => context.newPage(),
    problems: () => messages.filter(m => !['log', 'info', 'debug', 'trace', 'dir', 'table', 'count', 'timeEnd',
                                           'startGroup', 'startGroupCollapsed', 'endGroup'].includes(m.type)),
    close: async () => {
      await context.close();
      fs.rmSync(profile, {recursive: true, force: true});
    },
  };
}
