/**
 * Loading a user's module (a TypeScript pipeline, a plugin) runs its top-level code, and a
 * `for (;;) {}` there would hang `nas validate` and `nas run` for good. The load runs under a
 * `node:vm` timeout instead: V8's watchdog interrupts synchronous code, the module's own and
 * whatever it requires, once the time is up. It costs a watchdog thread per load (tens of
 * microseconds). Asynchronous work a module starts (timers, promises) runs after the load and is
 * not bounded here.
 */
import * as vm from 'node:vm';

export const DEFAULT_MODULE_LOAD_TIMEOUT_MS = 10_000;
export const MODULE_LOAD_TIMEOUT_ENV = 'NAS_MODULE_LOAD_TIMEOUT_MS';

/** The limit: `NAS_MODULE_LOAD_TIMEOUT_MS` when it is a whole number of milliseconds above 0, else 10 s. */
export function moduleLoadTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[MODULE_LOAD_TIMEOUT_ENV]?.trim();
  const ms = raw ? Number(raw) : NaN;
  return Number.isSafeInteger(ms) && ms > 0 ? ms : DEFAULT_MODULE_LOAD_TIMEOUT_MS;
}

export class ModuleLoadTimeoutError extends Error {
  constructor(readonly file: string, readonly timeoutMs: number) {
    super(
      `${file} did not finish loading within ${timeoutMs / 1000} s (an endless loop at its top level?); ` +
        `${MODULE_LOAD_TIMEOUT_ENV}=${Math.max(timeoutMs * 2, DEFAULT_MODULE_LOAD_TIMEOUT_MS)} allows longer`,
    );
    this.name = 'ModuleLoadTimeoutError';
  }
}

/** An empty context that only calls back: the code under the limit is the caller's, in its own realm. */
let caller: vm.Context | undefined;

/**
 * `load()` (a `require` of `file`), interrupted after `timeoutMs` with `ModuleLoadTimeoutError`.
 * Modules that an interrupted load left half-evaluated in the require cache are dropped from it,
 * so a later load runs them again rather than returning their partial exports.
 */
export function loadWithin<T>(file: string, load: () => T, timeoutMs = moduleLoadTimeoutMs()): T {
  caller ??= vm.createContext(Object.create(null));
  const cached = new Set(Object.keys(require.cache));
  caller.load = load;
  try {
    return vm.runInContext('load()', caller, { timeout: timeoutMs }) as T;
  } catch (err) {
    // Thrown by vm in the empty context's realm, so not `instanceof Error` here.
    if ((err as { code?: unknown } | null)?.code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw err;
    for (const key of Object.keys(require.cache)) if (!cached.has(key)) delete require.cache[key];
    throw new ModuleLoadTimeoutError(file, timeoutMs);
  } finally {
    caller.load = undefined;
  }
}
