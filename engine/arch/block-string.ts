/**
 * The compact block notation for logs and hand-written files, timm style: `e6_k5_s2_c40_se0.25`
 * (plus `_r3` when the entry repeats). The only place that encodes or decodes it.
 */
import { BlockSpecSchema, type BlockSpec } from './spec';

export class BlockStringError extends Error {
  constructor(text: string, detail: string) {
    super(`block "${text}": ${detail}; expected something like "e6_k5_s2_c40_se0.25" (optionally "_r2")`);
    this.name = 'BlockStringError';
  }
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6)));
}

export function encodeBlock(b: BlockSpec): string {
  const parts = [`e${b.expansion}`, `k${b.kernel}`, `s${b.stride}`, `c${b.outChannels}`];
  if (b.seRatio > 0) parts.push(`se${formatNumber(b.seRatio)}`);
  if (b.repeats > 1) parts.push(`r${b.repeats}`);
  return parts.join('_');
}

const KEYS: Record<string, keyof BlockSpec> = { e: 'expansion', k: 'kernel', s: 'stride', c: 'outChannels', se: 'seRatio', r: 'repeats' };

export function decodeBlock(text: string): BlockSpec {
  const fields: Record<string, number> = {};
  const tokens = text.trim().split('_');
  // timm prefixes the block type; every block here is an inverted residual, so it carries no information.
  if (tokens[0] === 'ir') tokens.shift();
  for (const token of tokens) {
    const m = /^(se|[ekscr])(\d+(?:\.\d+)?)$/.exec(token);
    if (!m) throw new BlockStringError(text, `cannot read "${token}"`);
    const key = KEYS[m[1]];
    if (key in fields) throw new BlockStringError(text, `"${m[1]}" appears twice`);
    fields[key] = Number(m[2]);
  }
  for (const required of ['e', 'k', 's', 'c']) {
    if (!(KEYS[required] in fields)) throw new BlockStringError(text, `"${required}" (${KEYS[required]}) is missing`);
  }
  const parsed = BlockSpecSchema.safeParse(fields);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BlockStringError(text, `${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}
