/**
 * Reading pipeline files: YAML, JSON or a TypeScript module in, a validated pipeline with every
 * default filled in out, or a `PipelineValidationError` listing every problem with its file, line
 * and column.
 */
import { extname } from 'node:path';
import type { Plugin } from '../plugins/api';
import type { PluginRegistry } from '../plugins/registry';
import { loadModuleDocument, MODULE_EXTENSIONS } from './module-document';
import { PipelineSchema, type Pipeline } from './pipeline';
import { resolvePluginConfigs } from './plugin-configs';
import { issuesToProblems, MAX_PROBLEMS, PipelineValidationError, sortProblems, type PipelineProblem, type SourceDocument } from './problems';
import { decodePipelineText, readPipelineBytes } from './read-source';
import { parseYamlDocument } from './yaml-document';

export { formatProblem, PipelineValidationError, type PipelineProblem } from './problems';

export interface LoadedPipeline {
  file: string;
  pipeline: Pipeline;
  /** Built-ins plus the user plugins this pipeline declares: what its stages may use. */
  plugins: PluginRegistry;
  userPlugins: Plugin[];
}

/** Keeps the first MAX_PROBLEMS in file order and folds the rest, counted, into one last line. */
function capProblems(problems: PipelineProblem[], file: string): PipelineProblem[] {
  const countOf = (p: PipelineProblem) => Number(/^and (\d+) more problems$/.exec(p.message)?.[1] ?? 0);
  const real = problems.filter((p) => countOf(p) === 0);
  const omitted = problems.reduce((n, p) => n + countOf(p), 0) + Math.max(0, real.length - MAX_PROBLEMS);
  if (omitted === 0) return real;
  const kept = real.slice(0, MAX_PROBLEMS);
  const last = kept[kept.length - 1] ?? { line: 1, column: 1 };
  return [...kept, { file, line: last.line, column: last.column, path: '', message: `and ${omitted} more problems` }];
}

/** Validates a parsed document: the schema, then plugins and their configs; all problems at once. */
export function validateDocument(doc: SourceDocument): LoadedPipeline {
  if (doc.value === null || doc.value === undefined) {
    throw new PipelineValidationError([{ file: doc.file, line: 1, column: 1, path: '', message: 'the file is empty; a pipeline starts with version: 1' }]);
  }
  const result = PipelineSchema.safeParse(doc.value);
  const plugins = resolvePluginConfigs(doc, result.success ? result.data : doc.value);
  const problems = [...(result.success ? [] : issuesToProblems(result.error.issues, doc, PipelineSchema)), ...plugins.problems];
  if (!result.success || problems.length > 0) throw new PipelineValidationError(capProblems(sortProblems(problems), doc.file));

  const pipeline = result.data;
  const strategy = plugins.configs.get('stages.baselineSearch.strategy');
  if (pipeline.stages.baselineSearch && strategy) pipeline.stages.baselineSearch.strategy.config = strategy;
  for (const [id, target] of Object.entries(pipeline.hardwareTargets)) {
    target.config = plugins.configs.get(`hardwareTargets.${id}`) ?? target.config;
  }
  return { file: doc.file, pipeline, plugins: plugins.registry, userPlugins: plugins.userPlugins };
}

/** YAML or JSON text (JSON is YAML). `file` is used for messages and to resolve plugin paths. */
export function parsePipelineText(text: string, file: string): Pipeline {
  return validateDocument(parseYamlDocument(text, file)).pipeline;
}

/** Reads, parses and validates a pipeline file, loading the plugins it declares. */
export function resolvePipelineFile(file: string): LoadedPipeline {
  const text = decodePipelineText(readPipelineBytes(file), file);
  const doc = MODULE_EXTENSIONS.includes(extname(file).toLowerCase()) ? loadModuleDocument(file, text) : parseYamlDocument(text, file);
  return validateDocument(doc);
}

export function loadPipelineFile(file: string): Pipeline {
  return resolvePipelineFile(file).pipeline;
}
