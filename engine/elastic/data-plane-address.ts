/**
 * Where the elastic-training coordinator listens and how workers on other machines reach it.
 *
 *   NAS_ELASTIC_HOST   address workers connect to (default: 127.0.0.1 when the artifact store is a
 *                      local folder, i.e. one machine; else this machine's first non-internal IPv4)
 *   NAS_ELASTIC_BIND   address to listen on (default: NAS_ELASTIC_HOST; 0.0.0.0 behind NAT)
 *   NAS_ELASTIC_PORT   port (default 0: any free one; set it to open a firewall for it)
 */
import { networkInterfaces } from 'node:os';

export interface DataPlaneAddress {
  bind: string;
  advertise: string;
  port: number;
}

function firstExternalIPv4(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

export function dataPlaneAddress(artifactLocation: string, env: NodeJS.ProcessEnv = process.env): DataPlaneAddress {
  const shared = /^s3:\/\//.test(artifactLocation);
  const advertise = env.NAS_ELASTIC_HOST || (shared ? (firstExternalIPv4() ?? '127.0.0.1') : '127.0.0.1');
  const port = Number(env.NAS_ELASTIC_PORT ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`NAS_ELASTIC_PORT must be a port number, not "${env.NAS_ELASTIC_PORT}"`);
  return { bind: env.NAS_ELASTIC_BIND || advertise, advertise, port };
}

/** The URL workers use, given the port the coordinator got. */
export function advertisedUrl(address: DataPlaneAddress, port: number): string {
  const host = address.advertise.includes(':') ? `[${address.advertise}]` : address.advertise;
  return `http://${host}:${port}`;
}
