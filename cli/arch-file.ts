/**
 * The architecture a user names on the command line: a catalog name or the path of an arch.json,
 * which may sit in a local artifact folder (the paths `nas run` prints), so it is read through the
 * store's integrity check. The engine's catalog validates; reading files is the CLI's part.
 */
import { readPossiblyStoredFile } from '../artifacts/local-store';
import { ARCH_NAMES, ArchError, namedArch, parseArch } from '../engine/arch/catalog';
import type { ArchSpec } from '../engine/arch/spec';

export function readArchFile(file: string): ArchSpec {
  let text: string;
  try {
    text = readPossiblyStoredFile(file).toString('utf8');
  } catch (err) {
    throw new ArchError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ArchError(`${file} is not JSON: ${(err as Error).message}`);
  }
  return parseArch(json, file);
}

/** A name from ARCH_NAMES or a path to an arch.json. */
export function resolveArch(nameOrFile: string): ArchSpec {
  const named = namedArch(nameOrFile);
  if (named) return named;
  if (nameOrFile.endsWith('.json')) return readArchFile(nameOrFile);
  throw new ArchError(`unknown architecture "${nameOrFile}": use one of ${ARCH_NAMES.join(', ')} or a path to an arch.json`);
}
