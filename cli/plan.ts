/**
 * The plan compiler (workflows/plan.ts) answered for this machine: the plugin module files a
 * pipeline names are read and hashed here, where infra/ may be used.
 */
import type { LoadedPipeline } from '../dsl/load';
import { strategySetOf } from '../infra/workflow-bundle';
import type { PipelineWorkflowInput } from '../workflows/pipeline';
import { planPipeline, type PluginModules } from '../workflows/plan';
import { provenance, sourceOf } from './provenance';

/** Strategy sets and provenance from the module files as they are on this machine now. */
const localPluginModules: PluginModules = {
  strategySet(loaded, strategy) {
    const source = sourceOf(loaded, 'search-strategy', strategy);
    return source && source !== 'built-in' ? strategySetOf([source]) : undefined;
  },
  provenance,
};

/** The pipeline workflow's input, as `nas run` starts it. */
export function workflowInput(loaded: LoadedPipeline, runId: string, artifactLocation: string): PipelineWorkflowInput {
  return planPipeline(loaded, runId, artifactLocation, localPluginModules);
}
