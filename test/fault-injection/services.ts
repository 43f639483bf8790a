/**
 * The suite's services, on loopback in one temp folder: a Temporal dev server persisting to a
 * SQLite file (so it can be SIGKILLed and started again on the same port with its state), a MinIO
 * with one bucket (which can be paused: SIGSTOP, then SIGCONT), and the Temporal client the suite
 * watches the runs with.
 */
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { S3ArtifactStore } from '../../artifacts';
import { startS3Server, type S3Server } from '../../infra/s3-server';
import { alive } from '../../infra/process-identity';
import { startTemporalDevServer, type DevServer } from '../../infra/temporal-dev-server';
import { cleanEnv } from '../integration/support/cli';

export class FaultServices {
  private constructor(
    readonly root: string,
    readonly bucket: string,
    private temporal: DevServer,
    readonly s3: S3Server,
    readonly connection: Connection,
    readonly client: Client,
    readonly admin: S3Client,
  ) {}

  static async start(root: string, bucket: string): Promise<FaultServices> {
    const [temporal, s3] = await Promise.all([
      startTemporalDevServer({ workDir: join(root, 'temporal'), ui: false }),
      startS3Server({ dataDir: join(root, 'minio') }),
    ]);
    const admin = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey } });
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    const connection = await Connection.connect({ address: temporal.address });
    return new FaultServices(root, bucket, temporal, s3, connection, new Client({ connection }), admin);
  }

  get temporalAddress(): string {
    return this.temporal.address;
  }

  get temporalDbFile(): string {
    return join(this.root, 'temporal', 'temporal.db');
  }

  /** What `nas worker` and `nas run` need: the cluster, the queue, the S3 endpoint and its credentials (by env, never argv). */
  env(taskQueue: string): NodeJS.ProcessEnv {
    return cleanEnv({
      TEMPORAL_ADDRESS: this.temporal.address,
      NAS_TASK_QUEUE: taskQueue,
      AWS_ACCESS_KEY_ID: this.s3.accessKey,
      AWS_SECRET_ACCESS_KEY: this.s3.secretKey,
      AWS_REGION: 'us-east-1',
      NAS_S3_ENDPOINT: this.s3.endpoint,
      // The elastic data plane stays on loopback like everything else.
      NAS_ELASTIC_HOST: '127.0.0.1',
    });
  }

  /** The run's store as the suite reads it (credentials go into this process's environment). */
  store(location: string): S3ArtifactStore {
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: this.s3.accessKey, AWS_SECRET_ACCESS_KEY: this.s3.secretKey, AWS_REGION: 'us-east-1' });
    return new S3ArtifactStore(location, { endpoint: this.s3.endpoint, forcePathStyle: true, region: 'us-east-1' });
  }

  /**
   * Kills the dev server (SIGKILL: no chance to flush or say goodbye) and starts it again on the
   * same port with the same database file. Resolves once it answers again.
   */
  async restartTemporal(): Promise<{ killedAt: number; upAt: number }> {
    const port = Number(this.temporal.address.split(':').pop());
    const pid = this.temporal.pid;
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await sleep(20);
    // Leave the killed server's handle, as any user of it would: otherwise this process still
    // counts as using it and, at the end, would leave the restarted server running for itself.
    await this.temporal.stop();
    this.temporal = await startTemporalDevServer({ workDir: join(this.root, 'temporal'), ui: false, port });
    if (this.temporal.address.split(':').pop() !== String(port)) throw new Error(`the dev server came back on ${this.temporal.address}, not port ${port}`);
    return { killedAt, upAt: Date.now() };
  }

  /** MinIO stops answering (its sockets stay open, requests hang) until resumeS3. */
  pauseS3(): void {
    process.kill(this.s3.pid, 'SIGSTOP');
  }

  resumeS3(): void {
    process.kill(this.s3.pid, 'SIGCONT');
  }

  async stop(): Promise<void> {
    try {
      this.resumeS3();
    } catch {
      // already gone
    }
    await this.connection.close().catch(() => undefined);
    this.admin.destroy();
    await Promise.all([this.temporal.stop(), this.s3.stop()]);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
