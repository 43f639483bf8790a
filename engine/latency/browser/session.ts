/**
 * The browser a browser target measures in: a headless Chromium this process starts (Debian's
 * `chromium`, driven by playwright-core), or a browser elsewhere reached over its DevTools
 * endpoint (a phone's Chrome through `adb forward`). One browser and one page server per
 * connection stay open while measurements keep coming, and one page per backend setup, so a
 * table of a hundred ops starts the browser once; they close after a short idle spell.
 *
 * Measurements are serialised across the whole process: two at once would share the CPU (or GPU)
 * and each would time the other.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { missingBrowser } from './availability';
import { startPageServer, type PageBundle, type PageServer } from './page-server';

/** Where the browser is. */
export interface BrowserConnection {
  /** Chromium to start headless; ignored when `endpoint` is given. */
  executable: string;
  /** DevTools endpoint of a running browser (http://127.0.0.1:9222 or ws://...). */
  endpoint?: string;
  /** Extra command-line flags for a started browser. */
  args: readonly string[];
  /** Address the page server listens on; the browser must reach it (a phone: `adb reverse tcp:P tcp:P`). */
  pageHost: string;
  /** 0: any free port. */
  pagePort: number;
}

/** How the page is set up before anything is timed: the tfjs backend and, for wasm, its build. */
export interface PageSetup {
  backend: 'wasm' | 'webgl' | 'webgpu';
  threads?: number;
  simd?: boolean;
}

/** What the page reports of itself after setting up, recorded with measurements. */
export interface PageInfo {
  backend: string;
  crossOriginIsolated: boolean;
  userAgent: string;
  cores: number;
  threads?: number;
  simd?: boolean;
  renderer?: string;
}

/** No browser to measure in: none installed where the config says, or none answering at the endpoint. A retry will not help. */
export class BrowserUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BrowserUnavailableError';
  }
}

/** The browser runs, but not with what the target asks for (no WebGPU, no threads). */
export class BrowserFeatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedTargetConfigError';
  }
}

/**
 * Flags for a started headless Chromium. WebGL in a headless browser without a GPU runs on
 * SwiftShader, which Chromium now enables only on request; WebGPU is behind a flag on Linux.
 */
const DEFAULT_ARGS = [
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  // Timers and rAF of a background tab are throttled; a measuring page must never be.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
];

interface Session {
  browser: Browser;
  server: PageServer;
  pages: Map<string, Promise<{ page: Page; info: PageInfo }>>;
  /** A browser we connected to is not ours to close; only our pages are. */
  owned: boolean;
  idle?: NodeJS.Timeout;
  /** Set the moment it starts closing (idle, or the browser went away): no measurement may take it then. */
  closed?: boolean;
}

const sessions = new Map<string, Promise<Session>>();
let queue: Promise<unknown> = Promise.resolve();
const IDLE_CLOSE_MS = 30_000;

function connectionKey(c: BrowserConnection): string {
  return JSON.stringify([c.endpoint ?? c.executable, c.endpoint ? [] : c.args, c.pageHost, c.pagePort]);
}

/** Where the browser of `c` is, for messages. */
export function describeConnection(c: BrowserConnection): string {
  return c.endpoint ? `the browser at DevTools endpoint ${c.endpoint}` : `Chromium at ${c.executable}`;
}

async function openBrowser(c: BrowserConnection): Promise<{ browser: Browser; owned: boolean }> {
  if (c.endpoint) {
    try {
      return { browser: await chromium.connectOverCDP(c.endpoint, { timeout: 15_000 }), owned: false };
    } catch (err) {
      throw new BrowserUnavailableError(
        `no browser answers at DevTools endpoint ${c.endpoint} (${firstLine(err)}); start one with --remote-debugging-port, ` +
          'or for a phone forward its port: adb forward tcp:9222 localabstract:chrome_devtools_remote',
      );
    }
  }
  const missing = missingBrowser(c);
  if (missing) throw new BrowserUnavailableError(missing);
  try {
    return { browser: await chromium.launch({ executablePath: c.executable, headless: true, args: [...DEFAULT_ARGS, ...c.args], timeout: 60_000 }), owned: true };
  } catch (err) {
    throw new BrowserUnavailableError(`Chromium at ${c.executable} did not start: ${firstLine(err)}`);
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

async function openSession(c: BrowserConnection): Promise<Session> {
  const server = await startPageServer(c.pageHost, c.pagePort);
  try {
    const { browser, owned } = await openBrowser(c);
    const session: Session = { browser, server, pages: new Map(), owned };
    // A crashed browser or a phone unplugged: the next measurement starts (or connects) afresh.
    browser.on('disconnected', () => void forget(c, session));
    return session;
  } catch (err) {
    await server.close();
    throw err;
  }
}

async function forget(c: BrowserConnection, session: Session): Promise<void> {
  session.closed = true;
  const key = connectionKey(c);
  const current = sessions.get(key);
  if (current && (await current.catch(() => undefined)) === session) sessions.delete(key);
  clearTimeout(session.idle);
  await session.server.close();
}

async function closeSession(c: BrowserConnection, session: Session): Promise<void> {
  await forget(c, session);
  await release(session);
}

/** Closes the browser we started, or only our pages of one we connected to. */
async function release(session: Session): Promise<void> {
  if (session.owned) await session.browser.close().catch(() => undefined);
  else for (const p of session.pages.values()) await (await p.catch(() => undefined))?.page.close().catch(() => undefined);
}

function sessionFor(c: BrowserConnection): Promise<Session> {
  const key = connectionKey(c);
  let s = sessions.get(key);
  if (!s) {
    s = openSession(c);
    sessions.set(key, s);
    // A failed start is not cached: the next call tries again (a browser installed meanwhile).
    s.catch(() => sessions.delete(key));
  }
  return s;
}

async function pageFor(session: Session, setup: PageSetup, c: BrowserConnection): Promise<{ page: Page; info: PageInfo }> {
  const key = JSON.stringify(setup);
  let p = session.pages.get(key);
  if (!p) {
    p = (async () => {
      const context = session.owned ? await session.browser.newContext() : (session.browser.contexts()[0] ?? (await session.browser.newContext()));
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      if (setup.backend === 'wasm' && setup.threads !== undefined && setup.threads > 1) {
        // tfjs's threaded build sizes its pool as navigator.hardwareConcurrency / 2 (it takes logical
        // cores for hyperthreads), so a 2-core machine would get 1 thread whatever is asked. The
        // page is told of twice the threads asked for, which makes the pool exactly that size.
        const cdp = await context.newCDPSession(page);
        await cdp.send('Emulation.setHardwareConcurrencyOverride', { hardwareConcurrency: 2 * setup.threads });
      }
      const bundles: PageBundle[] = setup.backend === 'wasm' ? ['tfjs', 'wasm'] : setup.backend === 'webgpu' ? ['tfjs', 'webgpu'] : ['tfjs'];
      await page.goto(session.server.pageUrl(bundles), { waitUntil: 'load', timeout: 60_000 });
      if (errors.length) throw new Error(`the measuring page failed to load in ${describeConnection(c)}: ${errors.join('; ')}`);
      const info = (await page.evaluate(`hwnasBench.init(${JSON.stringify(setup)})`)) as PageInfo & { unavailable?: string };
      if (info.unavailable) throw new BrowserFeatureError(`${describeConnection(c)} cannot run the tfjs ${setup.backend} backend: ${info.unavailable}`);
      if (setup.threads !== undefined && info.threads !== setup.threads) {
        throw new BrowserFeatureError(`${describeConnection(c)} runs tfjs wasm with ${info.threads} thread(s), not the ${setup.threads} asked for (cross-origin isolated: ${info.crossOriginIsolated})`);
      }
      return { page, info };
    })();
    session.pages.set(key, p);
    p.catch(() => session.pages.delete(key));
  }
  return p;
}

/**
 * Runs `fn` with a page of `c` set up as `setup`, after every other measurement of this process
 * has finished. The browser and page stay open for the next call.
 */
export async function withMeasuringPage<T>(c: BrowserConnection, setup: PageSetup, fn: (page: Page, server: PageServer, info: PageInfo) => Promise<T>): Promise<T> {
  const run = queue.then(async () => {
    let session = await sessionFor(c);
    if (session.closed) {
      // It closed between being looked up and now: start afresh.
      sessions.delete(connectionKey(c));
      session = await sessionFor(c);
    }
    clearTimeout(session.idle);
    try {
      const { page, info } = await pageFor(session, setup, c);
      return await fn(page, session.server, info);
    } finally {
      session.idle = setTimeout(() => void closeSession(c, session), IDLE_CLOSE_MS);
      session.idle.unref();
    }
  });
  queue = run.catch(() => undefined);
  return run;
}

/** Closes every browser this process started and every page it opened (tests, and workers shutting down). */
export async function closeBrowserSessions(): Promise<void> {
  const open = [...sessions.values()];
  sessions.clear();
  for (const s of open) {
    const session = await s.catch(() => undefined);
    if (!session) continue;
    clearTimeout(session.idle);
    await session.server.close();
    await release(session);
  }
}
