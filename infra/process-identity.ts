/**
 * Which process a recorded pid is. A pid outlives its process in our state files (a killed `nas
 * run`, a reboot), and the kernel hands it to the next process that asks, so "the pid is alive"
 * does not mean "it is the process we recorded". Its start time does: two processes with one pid
 * never share one.
 */
import { readFileSync } from 'node:fs';

export interface ProcessRef {
  pid: number;
  /** Kernel start time in clock ticks since boot (Linux `/proc/PID/stat` field 22); absent elsewhere. */
  startTime?: string;
}

/** Whether a process with this id exists (signal 0 checks without delivering anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The start time of a running process, or undefined where /proc cannot say (not Linux, gone). */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 is the command in parentheses and may itself hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

export function refOf(pid: number): ProcessRef {
  return { pid, startTime: processStartTime(pid) };
}

/**
 * Whether the recorded process still runs. Without a recorded start time (a state file written
 * before they were recorded, or a system without /proc) only liveness can be checked.
 */
export function stillRunning(ref: ProcessRef): boolean {
  if (!Number.isSafeInteger(ref.pid) || ref.pid <= 0 || !alive(ref.pid)) return false;
  if (ref.startTime === undefined) return true;
  const now = processStartTime(ref.pid);
  return now === undefined || now === ref.startTime;
}

/** A running process's argument vector, or undefined where /proc cannot say. */
export function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a.length > 0);
  } catch {
    return undefined;
  }
}
