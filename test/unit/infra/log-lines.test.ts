import type { LogEntry } from '@temporalio/worker';
import { fileLine, terminalLine } from '../../../infra/log-lines';

function entry(meta?: Record<string, unknown>): LogEntry {
  return { level: 'WARN', message: 'Activity failed', timestampNanos: 1_764_000_000_000_000_000n, meta };
}

function s3Outage(): Error {
  const cause = new Error('connect ECONNREFUSED 127.0.0.1:9000');
  return Object.assign(new Error('cannot reach S3 endpoint http://127.0.0.1:9000 for bucket runs: ECONNREFUSED', { cause }), { name: 'ArtifactStoreUnavailableError' });
}

test('a failed attempt reads as one line on the terminal: the error by name and message, no stack', () => {
  const line = terminalLine(entry({ activityType: 'supernetEpoch', attempt: 3, error: s3Outage(), durationMs: 1200 }));
  expect(line.endsWith('\n')).toBe(true);
  expect(line.slice(0, -1)).not.toContain('\n');
  expect(line).toContain('[WARN] Activity failed');
  expect(line).toContain('"error":"ArtifactStoreUnavailableError: cannot reach S3 endpoint http://127.0.0.1:9000 for bucket runs: ECONNREFUSED"');
  expect(line).toContain('"activityType":"supernetEpoch"');
  expect(line).not.toMatch(/\bat .*\.ts:\d+/);
});

test('a multi-line message keeps only its first line on the terminal', () => {
  const err = new Error('first line\n    at somewhere (x.ts:1:1)');
  expect(terminalLine(entry({ error: err }))).toContain('"error":"Error: first line …"');
});

test('the log file keeps the whole error: stack and cause', () => {
  const text = fileLine(entry({ error: s3Outage() }));
  const [first, ...rest] = text.trimEnd().split('\n');
  expect(first).toContain('"error":"ArtifactStoreUnavailableError: cannot reach S3 endpoint');
  expect(rest.join('\n')).toMatch(/at .*log-lines\.test\.ts/);
  expect(rest.join('\n')).toContain('ECONNREFUSED 127.0.0.1:9000');
});

test('an entry without fields, and bigint fields, still make one line', () => {
  expect(terminalLine(entry())).toBe('2025-11-24T16:00:00.000Z [WARN] Activity failed\n');
  expect(terminalLine(entry({ n: 5n }))).toContain('{"n":"5"}');
});
