/**
 * How many worker processes an embedded run starts when `--workers` is not given: as many as the
 * pipeline can keep busy at once, up to the machine's cores. One process per core pays here: two
 * single-threaded elastic participants train faster than one process with two threads (the
 * README's elastic numbers), and trials run side by side. A pipeline that does one thing at a
 * time (a single training, a one-shot search without band trials) keeps to this process.
 */
import { availableParallelism } from 'node:os';
import type { PipelineWorkflowInput } from '../workflows/pipeline';

/** The most activities the pipeline's stages run side by side, whatever the machine. */
export function pipelineParallelism(input: PipelineWorkflowInput): number {
  const { search, scaling, elastic } = input.stages;
  const widths = [1];
  if (search?.mode === 'multi-trial') widths.push(search.input.parallelTrials);
  if (search?.mode === 'one-shot' && search.input.bandTrials) widths.push(search.input.bandTrials.parallelTrials);
  if (scaling) widths.push(Math.min(scaling.parallelTrials, scaling.grid.trialBudget));
  if (elastic) widths.push(elastic.config.workers.max);
  return Math.max(...widths);
}

export interface WorkerCount {
  count: number;
  /** Why this many, for the run's opening lines. */
  why: string;
}

export function defaultWorkerCount(input: PipelineWorkflowInput, cores = availableParallelism()): WorkerCount {
  const width = pipelineParallelism(input);
  const count = Math.max(1, Math.min(cores, width));
  return { count, why: `${count === width ? `the pipeline runs up to ${width} at once` : `${cores} core${cores === 1 ? '' : 's'}`}; --workers N to choose` };
}
