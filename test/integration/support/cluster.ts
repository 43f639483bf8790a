/**
 * The services of cluster-mode tests: a Temporal dev server and MinIO on free loopback ports, a
 * bucket, a Temporal client, and the environment `nas worker` / `nas run` need to use them.
 */
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { S3ArtifactStore } from '../../../artifacts';
import { startS3Server, type S3Server } from '../../../infra/s3-server';
import { startTemporalDevServer, type DevServer } from '../../../infra/temporal-dev-server';
import { cleanEnv } from './cli';

export interface ClusterServices {
  temporal: DevServer;
  s3: S3Server;
  client: Client;
  /** Environment of CLI child processes: Temporal address, task queue, S3 endpoint and credentials. */
  env(taskQueue: string): NodeJS.ProcessEnv;
  /** The run's store as the test reads it (the credentials are put into this process's environment). */
  store(location: string): S3ArtifactStore;
  stop(): Promise<void>;
}

export async function startClusterServices(root: string, bucket: string): Promise<ClusterServices> {
  const [temporal, s3] = await Promise.all([
    startTemporalDevServer({ workDir: join(root, 'cluster-temporal'), ui: false }),
    startS3Server({ dataDir: join(root, 'minio') }),
  ]);
  const admin = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey } });
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  admin.destroy();
  const connection = await Connection.connect({ address: temporal.address });
  return {
    temporal,
    s3,
    client: new Client({ connection }),
    env: (taskQueue) =>
      cleanEnv({
        TEMPORAL_ADDRESS: temporal.address,
        NAS_TASK_QUEUE: taskQueue,
        AWS_ACCESS_KEY_ID: s3.accessKey,
        AWS_SECRET_ACCESS_KEY: s3.secretKey,
        AWS_REGION: 'us-east-1',
        NAS_S3_ENDPOINT: s3.endpoint,
      }),
    store: (location) => {
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey });
      return new S3ArtifactStore(location, { endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1' });
    },
    stop: async () => {
      await connection.close();
      await Promise.all([temporal.stop(), s3.stop()]);
    },
  };
}
