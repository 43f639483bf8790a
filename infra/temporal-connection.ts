/**
 * How this process reaches Temporal: `TEMPORAL_ADDRESS` (a cluster) or the embedded dev server.
 * TLS and namespace come from the environment so the same command works against a real cluster.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';

export const DEFAULT_TASK_QUEUE = 'nas';

export interface TemporalTarget {
  address: string;
  namespace: string;
  taskQueue: string;
  tls?: ConnectionOptions['tls'];
}

function readPem(envVar: string): Buffer | undefined {
  const file = process.env[envVar];
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${envVar}=${file} cannot be read: ${(err as Error).message}`);
  }
}

/** The cluster named by the environment, or undefined when the embedded server should be used. */
export function clusterFromEnv(): TemporalTarget | undefined {
  const address = process.env.TEMPORAL_ADDRESS?.trim();
  if (!address) return undefined;
  const cert = readPem('TEMPORAL_TLS_CERT');
  const key = readPem('TEMPORAL_TLS_KEY');
  const ca = readPem('TEMPORAL_TLS_CA');
  if (Boolean(cert) !== Boolean(key)) {
    throw new Error('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together for mTLS');
  }
  const wantsTls = cert || ca || process.env.TEMPORAL_TLS === '1' || process.env.TEMPORAL_TLS === 'true';
  return {
    address,
    namespace: process.env.TEMPORAL_NAMESPACE?.trim() || 'default',
    taskQueue: taskQueueFromEnv(),
    tls: wantsTls
      ? {
          ...(cert && key ? { clientCertPair: { crt: cert, key } } : {}),
          ...(ca ? { serverRootCACertificate: ca } : {}),
          ...(process.env.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: process.env.TEMPORAL_TLS_SERVER_NAME } : {}),
        }
      : undefined,
  };
}

export function taskQueueFromEnv(): string {
  return process.env.NAS_TASK_QUEUE?.trim() || DEFAULT_TASK_QUEUE;
}
