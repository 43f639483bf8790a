/** Who uses an embedded Temporal server: live users are counted, dead ones (and pid reuse) are not; the lock serialises. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processStartTime, stillRunning } from '../../../infra/process-identity';
import { addUser, liveUsers, removeUser, withServerLock } from '../../../infra/server-users';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nas-server-users-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited: nothing runs under it (until the kernel reuses it). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

test('a process is still running only while its pid and its start time both match', () => {
  expect(stillRunning({ pid: process.pid, startTime: processStartTime(process.pid) })).toBe(true);
  expect(stillRunning({ pid: deadPid() })).toBe(false);
  // Our pid with another start time is what a reused pid looks like.
  expect(stillRunning({ pid: process.pid, startTime: '1' })).toBe(false);
  expect(stillRunning({ pid: -1 })).toBe(false);
});

test('live users are counted, records of dead processes and unreadable ones are removed', () => {
  const mine = addUser(dir, 'nas run x');
  const usersDir = join(dir, 'temporal-server.users');
  writeFileSync(join(usersDir, 'dead.json'), JSON.stringify({ pid: deadPid(), what: 'nas run killed' }));
  writeFileSync(join(usersDir, 'reused.json'), JSON.stringify({ pid: process.pid, startTime: '1', what: 'nas run before a reboot' }));
  writeFileSync(join(usersDir, 'cut.json'), '{"pid":');

  expect(liveUsers(dir)).toEqual([{ pid: process.pid, what: 'nas run x' }]);
  expect(readdirSync(usersDir)).toEqual([mine.slice(usersDir.length + 1)]);
  expect(liveUsers(dir, [mine])).toEqual([]);
  removeUser(mine);
  expect(liveUsers(dir)).toEqual([]);
});

test('the lock runs one holder at a time and takes over a dead holder’s lock', async () => {
  let inside = 0;
  let most = 0;
  const hold = () =>
    withServerLock(dir, async () => {
      most = Math.max(most, ++inside);
      await new Promise((r) => setTimeout(r, 30));
      inside -= 1;
    });
  await Promise.all([hold(), hold(), hold()]);
  expect(most).toBe(1);

  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'temporal-server.lock'), JSON.stringify({ pid: deadPid() }));
  await expect(withServerLock(dir, async () => 'taken over')).resolves.toBe('taken over');
  expect(readdirSync(dir)).not.toContain('temporal-server.lock');
});
