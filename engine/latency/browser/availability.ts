/**
 * Whether a browser target has a browser to start, checked without starting it: by `nas run`
 * before a run begins (through the targets' `unavailable`), and by the session before launching.
 * A DevTools endpoint is taken on trust here; whether it answers is known only when connecting.
 */
import { existsSync } from 'node:fs';

export function missingBrowser(browser: { executable: string; endpoint?: string }): string | undefined {
  if (browser.endpoint || existsSync(browser.executable)) return undefined;
  return (
    `no browser at ${browser.executable}: install Debian's chromium (apt-get install chromium; infra/setup.sh --test-tools does), ` +
    'or set the target\'s browser: { executable: /path/to/chromium } or { endpoint: "http://host:9222" }'
  );
}
