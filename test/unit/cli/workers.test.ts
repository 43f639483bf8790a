/** `--workers N` of `nas run` / `nas resume`: what counts as a count, how the cores are split, which queues each process polls. */
import { parseWorkers } from '../../../cli/commands/run';
import { CliError, EXIT_BAD_INPUT } from '../../../cli/errors';
import { threadsPerProcess } from '../../../infra/local-workers';
import { servedQueues } from '../../../infra/worker';

test('no flag leaves the count to the pipeline (worker-count.test.ts); whole numbers from 1 to 64 are taken as given', () => {
  expect(parseWorkers(undefined, false)).toBeUndefined();
  expect(parseWorkers('1', false)).toBe(1);
  expect(parseWorkers('3', false)).toBe(3);
  expect(parseWorkers('64', false)).toBe(64);
});

test.each(['0', '-1', '1.5', 'two', '', '65'])('%p is refused as bad input', (value) => {
  expect(() => parseWorkers(value, false)).toThrow(new CliError(`--workers ${value}: expected a whole number from 1 to 64`, EXIT_BAD_INPUT));
});

test('with a cluster, more than one is refused: its workers are `nas worker` processes', () => {
  expect(parseWorkers('1', true)).toBe(1);
  expect(() => parseWorkers('2', true)).toThrow(/with TEMPORAL_ADDRESS, start `nas worker` processes/);
});

test('the cores are split evenly between the processes, at least one thread each', () => {
  expect(threadsPerProcess(1, 2)).toBe(2);
  expect(threadsPerProcess(2, 2)).toBe(1);
  expect(threadsPerProcess(3, 8)).toBe(2);
  expect(threadsPerProcess(4, 2)).toBe(1);
});

test('a full worker process polls the main, trials and elastic queues; an added one only the last two', () => {
  expect(servedQueues('nas')).toEqual(['nas', 'nas-trials', 'nas-elastic']);
  expect(servedQueues('nas', true)).toEqual(['nas-trials', 'nas-elastic']);
});
