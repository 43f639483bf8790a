/**
 * The saved progress of a long benchmark experiment (`--state FILE`): the searches it ran and every
 * net it trained, so that a rerun of a killed or extended experiment (more seeds, more random nets)
 * trains only what is missing. A search is reused only under the same search flags, a trained net
 * only under the same training flags, seed and architecture; the flags are stored with each, so a
 * mismatch is named instead of silently mixing runs.
 *
 * The file is rewritten whole, through a temporary file and a rename, after each search and each
 * net: a kill leaves the previous complete file, never a torn one.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const FlagsSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
export type ExperimentFlags = z.infer<typeof FlagsSchema>;

const SearchedTargetSchema = z.object({
  target: z.string(),
  /** Per decision, per option: the latency table entry in ms (0 for the zero op). */
  matrix: z.array(z.array(z.number().nonnegative())),
  /** Stem, head, pool and classifier: what every net of the space pays. */
  fixedMs: z.number().nonnegative(),
  latencyTargetMs: z.number().positive().optional(),
  choices: z.array(z.number().int().nonnegative()),
  expectedLatencyMs: z.number().nonnegative(),
});
export type SearchedTarget = z.infer<typeof SearchedTargetSchema>;

const TrainedNetSchema = z.object({
  flags: FlagsSchema,
  seed: z.number().int(),
  /** The net's blocks in the engine's block-string format: choice vectors that differ only in where a stage skips build the same net. */
  net: z.string().min(1),
  accuracy: z.number().min(0).max(1),
  seconds: z.number().nonnegative(),
});
export type TrainedNet = z.infer<typeof TrainedNetSchema>;

const StateSchema = z.object({
  format: z.literal(1),
  /** Where the contents came from, when not from this script's own run (e.g. rebuilt from a log). */
  note: z.string().optional(),
  search: z.object({ flags: FlagsSchema, targets: z.array(SearchedTargetSchema).min(1) }).optional(),
  trained: z.array(TrainedNetSchema),
});
type State = z.infer<typeof StateSchema>;

/** The flags whose values differ between two sets, each as `name: saved -> now`. */
export function differingFlags(saved: ExperimentFlags, now: ExperimentFlags): string[] {
  const names = [...new Set([...Object.keys(saved), ...Object.keys(now)])].sort();
  return names.filter((n) => saved[n] !== now[n]).map((n) => `${n}: ${String(saved[n] ?? '(unset)')} -> ${String(now[n] ?? '(unset)')}`);
}

export class ExperimentState {
  /** Writes run one after another: two trainers finishing together must not share the temporary file. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    private state: State,
  ) {}

  /**
   * Opens the state at `file`, or an empty one where none exists yet; a file that does not parse,
   * or a folder it cannot be written to, is an error naming it before any work starts (not after an
   * hour's search that then cannot be saved).
   */
  static async open(file: string): Promise<ExperimentState> {
    try {
      await fs.access(path.dirname(path.resolve(file)), fsConstants.W_OK);
    } catch {
      throw new Error(`experiment state ${file}: its folder ${path.dirname(path.resolve(file))} does not exist or is not writable`);
    }
    let raw: string;
    try {
      raw = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new ExperimentState(file, { format: 1, trained: [] });
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      throw new Error(`experiment state ${file} is not JSON (${(err as Error).message}); move it aside to start afresh`);
    }
    const parsed = StateSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`experiment state ${file} is not a state this script wrote: at ${issue.path.join('.') || '(root)'}: ${issue.message}; move it aside to start afresh`);
    }
    return new ExperimentState(file, parsed.data);
  }

  get note(): string | undefined {
    return this.state.note;
  }

  /** The saved searches when they ran under `flags`; undefined when none is saved; an error naming the flags that differ otherwise. */
  searchUnder(flags: ExperimentFlags): SearchedTarget[] | undefined {
    const saved = this.state.search;
    if (!saved) return undefined;
    const diff = differingFlags(saved.flags, flags);
    if (diff.length) throw new Error(`experiment state ${this.file} holds a search run with other flags (${diff.join('; ')}); use another --state file`);
    return saved.targets;
  }

  async saveSearch(flags: ExperimentFlags, targets: SearchedTarget[]): Promise<void> {
    this.state = { ...this.state, search: { flags, targets } };
    await this.write();
  }

  /** A net trained earlier under the same training flags, seed and architecture. */
  trained(flags: ExperimentFlags, seed: number, net: string): TrainedNet | undefined {
    return this.state.trained.find((t) => t.seed === seed && t.net === net && differingFlags(t.flags, flags).length === 0);
  }

  /** Every net the state holds, in the order they finished. */
  get allTrained(): readonly TrainedNet[] {
    return this.state.trained;
  }

  /** Every net trained under these training flags, whichever search or seed it was drawn for. */
  trainedUnder(flags: ExperimentFlags): TrainedNet[] {
    return this.state.trained.filter((t) => differingFlags(t.flags, flags).length === 0);
  }

  async saveTrained(net: TrainedNet): Promise<void> {
    this.state = { ...this.state, trained: [...this.state.trained, net] };
    await this.write();
  }

  private write(): Promise<void> {
    this.writing = this.writing.then(() => this.writeNow());
    return this.writing;
  }

  private async writeNow(): Promise<void> {
    const tmp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.${process.pid}.tmp`);
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(JSON.stringify(this.state, null, 1) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, this.file);
  }
}
