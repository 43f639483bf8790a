/**
 * The coordinating side of elastic data-parallel training: a parameter server over HTTP, made of
 * three parts that know little of each other:
 *
 * - plane.ts: the HTTP server, the run token, bounded bodies and the wire format;
 * - membership.ts: who takes part and who holds which slice, and the rules for silent members;
 * - step-loop.ts: assigning each step, gathering and checking the contributions, applying the
 *   update, and the checkpoints.
 *
 * It knows nothing of Temporal: the activity around it supplies checkpoints, logs and the stop
 * signal, and the benchmark drives it in-process.
 */
import { layoutSignature, type FlatWeights, type WeightLayout } from './flat-weights';
import { Membership, type MembershipConfig } from './membership';
import { DataPlane } from './plane';
import { StepLoop, type CoordinatorHooks, type StepLoopConfig } from './step-loop';

export { BodyTooLargeError, GRADIENT_HEADER_ROOM, JSON_BODY_LIMIT } from './plane';
export { ElasticCheckpointMismatch, type CoordinatorHooks, type EpochSummary, type StepLogEntry } from './step-loop';

export interface CoordinatorConfig extends StepLoopConfig, MembershipConfig {
  /**
   * Shared secret every request must carry: the plane accepts gradients from the run's own workers
   * only. Derived from this installation's key and the training's salt (auth.ts), never stored.
   */
  token: string;
}

export class ElasticCoordinator {
  readonly weights: FlatWeights;
  private readonly membership: Membership;
  private readonly loop: StepLoop;
  private readonly plane: DataPlane;

  constructor(
    readonly layout: WeightLayout,
    initial: FlatWeights,
    samples: Uint32Array,
    readonly config: CoordinatorConfig,
  ) {
    const signature = layoutSignature(layout);
    this.membership = new Membership(config, signature, {
      changed: () => this.loop.wake(),
      giveBack: (ids) => this.loop.giveBack(ids),
    });
    this.loop = new StepLoop(layout, signature, initial, samples, config, this.membership);
    this.plane = new DataPlane(config.token, layout.trainableSize + layout.nonTrainableSize, {
      join: (request) => this.membership.join(request),
      next: (request, poll) => this.membership.next(request, poll),
      leave: (request) => this.membership.leave(request),
      gradient: (header, values) => this.loop.contribute(header, values),
      diverged: (report) => this.loop.reported(report),
    });
    this.weights = this.loop.weights;
  }

  get step(): number {
    return this.loop.step;
  }

  get epoch(): number {
    return this.loop.epoch;
  }

  /** Samples applied so far over the whole run: the progress measure, since steps per epoch vary. */
  get samplesDone(): number {
    return this.loop.samplesDone;
  }

  get samplesTotal(): number {
    return this.loop.samplesTotal;
  }

  get done(): boolean {
    return this.loop.done;
  }

  presentWorkers(): string[] {
    return this.membership.names();
  }

  checkpoint(): Promise<Uint8Array> {
    return this.loop.checkpoint();
  }

  /** Throws ElasticCheckpointMismatch when the checkpoint is of another model. */
  restore(bytes: Uint8Array): void {
    this.loop.restore(bytes);
  }

  /** Serves the data plane on `host` (port 0: any free one); returns its URL. */
  listen(host: string, port = 0): Promise<string> {
    return this.plane.listen(host, port);
  }

  /**
   * Ends every poll with "done", then stops listening. Workers between two requests still get
   * their "done" during a short grace period instead of a refused connection.
   */
  async close(graceMs = 1000): Promise<void> {
    this.membership.finish();
    await this.plane.close(graceMs);
  }

  /** See Membership.idleGraceMs. */
  idleGraceMs(): number {
    return this.membership.idleGraceMs();
  }

  /** See Membership.newcomerDeadlineMs. */
  newcomerDeadlineMs(): number {
    return this.membership.newcomerDeadlineMs();
  }

  /**
   * Trains until the last epoch ends or `shouldStop` says so (after a checkpoint either way).
   * Returns whether training finished.
   */
  run(hooks: CoordinatorHooks): Promise<boolean> {
    return this.loop.run(hooks);
  }
}
