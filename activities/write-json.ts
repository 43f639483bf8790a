/** Stores a small JSON document that a workflow assembled (a summary, a table): workflows do no I/O. */
import { putJson } from '../artifacts';
import { storeFor } from './context';

export async function writeJson(input: { artifactLocation: string; key: string; value: unknown }): Promise<string> {
  await putJson(storeFor(input.artifactLocation), input.key, input.value);
  return input.key;
}
