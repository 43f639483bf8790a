/** How many worker processes an embedded run starts without `--workers`: what the pipeline keeps busy, up to the cores. */
import { join } from 'node:path';
import { workflowInput } from '../../../cli/plan';
import { defaultWorkerCount, pipelineParallelism } from '../../../cli/worker-count';
import { resolvePipelineFile } from '../../../dsl/load';

const examples = join(__dirname, '..', '..', '..', 'examples');
const planned = (name: string) => workflowInput(resolvePipelineFile(join(examples, name)), 'r', '/tmp/a');

test('a single training, one model at a time, keeps to one process', () => {
  expect(pipelineParallelism(planned('train-small-cnn.yaml'))).toBe(1);
  expect(defaultWorkerCount(planned('train-small-cnn.yaml'), 16).count).toBe(1);
});

test('the quickstart trains two scaling trials at once and elastically on up to 2 workers: both cores of 2, still 2 of 16', () => {
  const input = planned('quickstart.yaml');
  expect(pipelineParallelism(input)).toBe(2);
  expect(defaultWorkerCount(input, 2)).toEqual({ count: 2, why: 'the pipeline runs up to 2 at once; --workers N to choose' });
  expect(defaultWorkerCount(input, 16).count).toBe(2);
  expect(defaultWorkerCount(input, 1)).toEqual({ count: 1, why: '1 core; --workers N to choose' });
});

test('a wide elastic pool is bounded by the cores', () => {
  const input = planned('full-search.yaml');
  expect(pipelineParallelism(input)).toBe(8);
  expect(defaultWorkerCount(input, 2)).toEqual({ count: 2, why: '2 cores; --workers N to choose' });
  expect(defaultWorkerCount(input, 4).count).toBe(4);
});
