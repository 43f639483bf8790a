/**
 * How the Temporal SDK's log entries read: in a log file whole, a failed attempt's stack included;
 * on a terminal one line each, since a worker riding out an outage logs a failure per retry and a
 * stack per failure buried what the operator needed to see (issue 27: six stacks for one S3 pause).
 */
import { inspect } from 'node:util';
import type { LogEntry } from '@temporalio/worker';

/** One line for the terminal: errors in the entry's fields read as `Name: first line of message`. */
export function terminalLine(entry: LogEntry): string {
  return `${when(entry)} [${entry.level}] ${entry.message}${fields(entry, (e) => `${e.name}: ${firstLine(e.message)}`)}\n`;
}

/** The whole entry for a log file: errors with their stacks and causes, indented below the line. */
export function fileLine(entry: LogEntry): string {
  const errors: Error[] = [];
  const line = `${when(entry)} [${entry.level}] ${entry.message}${fields(entry, (e) => {
    errors.push(e);
    return `${e.name}: ${firstLine(e.message)}`;
  })}\n`;
  const stacks = errors.map((e) => inspect(e, { depth: 4 }).replace(/^/gm, '    ')).join('\n');
  return stacks ? `${line}${stacks}\n` : line;
}

function when(entry: LogEntry): string {
  return new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
}

function firstLine(text: string): string {
  const newline = text.indexOf('\n');
  return newline < 0 ? text : `${text.slice(0, newline)} …`;
}

/** ` {"key":value,...}` of the entry's fields, errors written by `error`; empty without fields. */
function fields(entry: LogEntry, error: (e: Error) => string): string {
  if (!entry.meta || Object.keys(entry.meta).length === 0) return '';
  const text = JSON.stringify(entry.meta, (_key, value: unknown) => {
    if (value instanceof Error) return error(value);
    return typeof value === 'bigint' ? value.toString() : value;
  });
  return ` ${text}`;
}
