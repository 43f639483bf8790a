/**
 * The elastic data plane's credentials (engine/elastic/auth.ts): the token is HMAC(key, salt) of a
 * key only this installation's processes hold, so the salt that Temporal's history carries gives
 * nothing away; coordinator.json is signed with the same key, and a participant refuses a record
 * that does not verify without sending a single request to the URL it names. The activity and
 * workflow inputs carry the salt, never a token.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { openArtifactStore, putJson } from '../../../../artifacts';
import { elasticParticipant, findCoordinator, type ElasticParticipantInput, type ElasticTrainingInput } from '../../../../activities/elastic-training';
import { runLayout } from '../../../../core/run-layout';
import {
  CoordinatorRecordRejectedError,
  DATA_PLANE_KEY_ENV,
  DataPlaneKeyError,
  dataPlaneKeyFile,
  deriveToken,
  loadDataPlaneKey,
  signCoordinatorRecord,
  verifyCoordinatorRecord,
} from '../../../../engine/elastic/auth';
import type { ElasticTrainingWorkflowInput } from '../../../../workflows/elastic-training';
import { writeFashionSubset } from '../../../integration/support/fashion-subset';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'nas-elastic-auth-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const key = Buffer.from('k'.repeat(64));
const scope = { runId: 'r1', stage: 'elastic/small-cnn', salt: 'salt-1' };
const fields = { url: 'http://127.0.0.1:4000', attempt: 1, worker: 'host:1', startedAt: '2026-01-01T00:00:00.000Z' };

describe('token derivation', () => {
  it('is a function of key and salt alone, and neither can be read off it', () => {
    const token = deriveToken(key, 'salt-1');
    expect(deriveToken(key, 'salt-1')).toBe(token);
    expect(deriveToken(key, 'salt-2')).not.toBe(token);
    expect(deriveToken(Buffer.from('j'.repeat(64)), 'salt-1')).not.toBe(token);
    expect(token.length).toBeGreaterThanOrEqual(43);
    expect(token).not.toContain('salt-1');
    expect(() => deriveToken(key, '')).toThrow(/needs the training salt/);
  });
});

describe('the installation key', () => {
  it('NAS_DATA_PLANE_KEY when set (at least 32 characters)', () => {
    expect(loadDataPlaneKey({ [DATA_PLANE_KEY_ENV]: 'x'.repeat(32) })).toEqual(Buffer.from('x'.repeat(32)));
    expect(() => loadDataPlaneKey({ [DATA_PLANE_KEY_ENV]: 'short' })).toThrow(DataPlaneKeyError);
  });

  it('else a key file created once with mode 0600 under XDG_CONFIG_HOME, the same for every later process', () => {
    const env = { XDG_CONFIG_HOME: join(root, 'config') };
    const file = dataPlaneKeyFile(env);
    expect(file).toBe(join(root, 'config', 'hwnas', 'data-plane.key'));
    const first = loadDataPlaneKey(env);
    expect(first.length).toBe(64);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'config', 'hwnas')).mode & 0o077).toBe(0);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.toString());
    expect(loadDataPlaneKey({ ...env })).toEqual(first);
  });

  it('refuses a key file that other users can read', () => {
    const env = { XDG_CONFIG_HOME: join(root, 'open-config') };
    const file = dataPlaneKeyFile(env);
    loadDataPlaneKey(env);
    chmodSync(file, 0o644);
    expect(() => loadDataPlaneKey(env)).toThrow(/readable or writable by other users \(mode 0644\); make it private with chmod 600/);
  });
});

describe('coordinator.json signatures', () => {
  it('verify for the training they were signed for, and for nothing else', () => {
    const record = signCoordinatorRecord(key, fields, scope);
    expect(verifyCoordinatorRecord(key, JSON.parse(JSON.stringify(record)), scope, 'k')).toEqual(record);
    const refused = (r: unknown, s = scope, k = key) => () => verifyCoordinatorRecord(k, r, s, 'runs/r1/coordinator.json');
    expect(refused({ ...record, url: 'http://evil:80' })).toThrow(/^refusing the coordinator record runs\/r1\/coordinator.json: its signature does not verify\. No request was sent/);
    expect(refused({ ...record, attempt: 2 })).toThrow(CoordinatorRecordRejectedError);
    expect(refused(fields)).toThrow(/it carries no signature/);
    expect(refused({ ...record, signature: 'zz' })).toThrow(/does not verify/);
    expect(refused(record, { ...scope, salt: 'another training' })).toThrow(/does not verify/);
    expect(refused(record, { ...scope, runId: 'r2' })).toThrow(/does not verify/);
    expect(refused(record, scope, Buffer.from('j'.repeat(64)))).toThrow(/set the same NAS_DATA_PLANE_KEY on every machine/);
    expect(refused('not a record')).toThrow(/it is not a coordinator record/);
  });
});

describe('the participant activity', () => {
  it('refuses a forged coordinator.json with a clear error, and sends nothing to the URL it names', async () => {
    const dataDir = writeFashionSubset(join(root, 'data'), 64, 16);
    const requests: string[] = [];
    const trap = createServer((req, res) => {
      requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.end('{}');
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    const trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`;
    const previous = process.env[DATA_PLANE_KEY_ENV];
    process.env[DATA_PLANE_KEY_ENV] = key.toString();
    try {
      const input: ElasticParticipantInput = {
        runId: 'forged',
        stage: 'elastic/small-cnn',
        artifactLocation: join(root, 'artifacts'),
        seed: 1,
        dataset: { name: 'fashion-mnist', path: dataDir, resolution: 28, validationFraction: 0 },
        model: { kind: 'small-cnn', filters: 4 },
        salt: 'the-training-salt',
        weightDecay: 0,
        slot: 0,
      };
      const store = openArtifactStore(input.artifactLocation);
      const recordKey = runLayout(input.runId).elastic(input.stage).coordinator;
      const ownScope = { runId: input.runId, stage: input.stage, salt: input.salt };
      // What a store writer without the key can do: an unsigned record, or one signed with a guessed key.
      for (const forged of [{ ...fields, url: trapUrl }, signCoordinatorRecord(Buffer.from('guess'.repeat(8)), { ...fields, url: trapUrl }, ownScope)]) {
        await putJson(store, recordKey, forged);
        const error = await new MockActivityEnvironment().run(elasticParticipant, input).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CoordinatorRecordRejectedError);
        expect((error as Error).message).toContain(`refusing the coordinator record ${recordKey}`);
        expect((error as Error).message).toContain('No request was sent to the URL it names');
      }
      expect(requests).toEqual([]);
      // The genuine record, signed with the installation's key for this training, is accepted.
      await putJson(store, recordKey, signCoordinatorRecord(key, { ...fields, url: trapUrl }, ownScope));
      expect((await findCoordinator(store, recordKey, key, ownScope))?.url).toBe(trapUrl);
    } finally {
      if (previous === undefined) delete process.env[DATA_PLANE_KEY_ENV];
      else process.env[DATA_PLANE_KEY_ENV] = previous;
      await new Promise((resolve) => trap.close(resolve));
    }
  });
});

describe('no token in the workflow or activity inputs', () => {
  it('the inputs carry a salt and no token field (the types are checked by tsc, npm run typecheck)', () => {
    const input = { runId: 'r', stage: 's', artifactLocation: 'a', seed: 1, salt: 'x' } as Pick<ElasticTrainingInput, 'runId' | 'stage' | 'artifactLocation' | 'seed' | 'salt'>;
    type HasToken<T> = 'token' extends keyof T ? true : false;
    const checks: [HasToken<ElasticTrainingInput>, HasToken<ElasticParticipantInput>, HasToken<ElasticTrainingWorkflowInput>, 'salt' extends keyof ElasticTrainingWorkflowInput ? true : false] = [false, false, false, false];
    expect(checks).toEqual([false, false, false, false]);
    expect(Object.keys(input)).not.toContain('token');
  });

  it('a history recorded before this change did carry the token in plain text; its activity inputs are replayable as recorded inputs', () => {
    const history = readFileSync(join(__dirname, '../../..', 'fixtures', 'histories', 'elasticTrainingWorkflow.cancel-resume.json'), 'utf8');
    const inputs = (JSON.parse(history) as { events: { activityTaskScheduledEventAttributes?: { input?: { payloads?: { data: string }[] } } }[] }).events
      .flatMap((e) => e.activityTaskScheduledEventAttributes?.input?.payloads ?? [])
      .map((p) => JSON.parse(Buffer.from(p.data, 'base64').toString('utf8')) as Record<string, unknown>);
    expect(inputs.length).toBeGreaterThan(0);
    expect(inputs.every((i) => typeof i.token === 'string' && !('salt' in i))).toBe(true);
  });
});
