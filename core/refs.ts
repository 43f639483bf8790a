/**
 * References that stage inputs carry between workflows and activities: small, serialisable, and
 * one type each wherever they travel.
 */

/** A hardware target as the pipeline declares it: its id in `hardwareTargets`, its plugin and that plugin's config. */
export interface TargetRef {
  id: string;
  plugin: string;
  config: unknown;
}

/** What every stage's work needs to know of its run: which run, and where its artifacts live. */
export interface RunContext {
  runId: string;
  /** The artifact store's location as the user wrote it (`file:///…`, a path, or `s3://bucket/prefix`). */
  artifactLocation: string;
}

/** What a model is to the run, which decides how the evaluation and the report name and group it. */
export type ModelRole = 'trained' | 'searched' | 'scaled' | 'reference';
