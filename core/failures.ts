/**
 * Failure types (an activity's error name, or an ApplicationFailure's type) that fail the attempt
 * for good: the same input on any worker would fail the same way, so retrying only delays the
 * message. The run fails with it, and `nas resume` continues once the cause is fixed. The
 * workflows' retry policies (workflows/policies.ts) list every one as non-retryable; the CLI says
 * how to go on after some (cli/runs.ts).
 */
export const PERMANENT_FAILURES = {
  PipelineValidationError: 'the pipeline itself is wrong',
  PluginLoadError: 'a plugin module does not load; the same file fails again',
  DatasetNotFoundError: 'the data set is not where the pipeline says',
  DatasetFormatError: 'the data set files are not what the pipeline says',
  ArtifactNotFound: 'an earlier stage never stored what this one needs',
  ArchError: 'the architecture is not one the space can build',
  MissingOpsError: 'the latency table lacks ops the space uses',
  UnsupportedTargetConfigError: 'the hardware target cannot run with this configuration',
  BrowserUnavailableError: 'no browser where a browser target says (not installed, or no DevTools endpoint answering)',
  InvalidConfig: "a plugin's config does not pass its schema",
  LatencyTableFormatError: 'a stored latency table is not one this code can read',
  ModelDataMismatchError: "the model's input does not fit the data set",
  CheckpointMismatchError: 'the checkpoint belongs to other settings than this run',
  SupernetCheckpointError: 'the supernet checkpoint belongs to other settings than this run',
  ParticipantRejectedError: 'the elastic coordinator refused this participant for good',
  DataPlaneKeyError: "the installation's data-plane key is missing or readable by others",
  TrainingDivergedError: 'a retry from the same checkpoint diverges again',
  ArtifactStoreFullError: 'the artifact store has no space left until someone frees it',
  ArtifactStoreAccessError: "the artifact store's folder is read-only or not ours",
} as const satisfies Readonly<Record<string, string>>;

export type PermanentFailure = keyof typeof PERMANENT_FAILURES;
