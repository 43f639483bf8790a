import { loadPipelineFile, MAX_PIPELINE_BYTES } from '../../../dsl';
import { firstInvalidUtf8 } from '../../../dsl/read-source';
import { problemsOf, tempDir, writeTemp } from '../../support/dsl-helpers';

// Each hostile file must fail fast with one clear problem, never crash, hang or balloon memory.
const dir = tempDir();
const load = (name: string, content: string | Buffer) => {
  const file = writeTemp(dir, name, content);
  const started = Date.now();
  const problems = problemsOf(() => loadPipelineFile(file));
  return { problems, ms: Date.now() - started };
};

it('refuses a YAML alias bomb (billion laughs)', () => {
  let text = 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
  for (let i = 1; i <= 9; i++) text += `a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]\n`;
  const { problems, ms } = load('bomb.yaml', text);
  expect(problems[0].message).toContain('alias bomb');
  expect(ms).toBeLessThan(1000);
});

it('allows a few aliases', () => {
  const text = 'version: 1\nname: a\ndataset: &d { name: fashion-mnist }\nstages: { train: {} }\nx: *d\n';
  const { problems } = load('alias.yaml', text);
  expect(problems).toEqual([expect.objectContaining({ path: 'x', message: expect.stringContaining('unknown key') })]);
});

it('refuses files over the size cap before reading them', () => {
  const { problems, ms } = load('big.yaml', Buffer.alloc(MAX_PIPELINE_BYTES + 10, 'a'));
  expect(problems[0].message).toMatch(/file is 1\.0 MiB; pipeline files are limited to 1\.0 MiB/);
  expect(ms).toBeLessThan(500);
});

it('parses a file just under the cap with many keys in bounded time', () => {
  let text = 'version: 1\n';
  for (let i = 0; text.length < MAX_PIPELINE_BYTES - 100; i++) text += `key${i}: ${i}\n`;
  const { problems, ms } = load('many-keys.yaml', text);
  expect(problems).toHaveLength(101);
  expect(problems[100].message).toMatch(/^and \d+ more problems$/);
  expect(ms).toBeLessThan(8000);
});

it('refuses deep flow nesting without recursing into it', () => {
  const { problems, ms } = load('deep-flow.yaml', `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
  expect(problems[0]).toMatchObject({ line: 1, message: expect.stringContaining('nested deeper than 64') });
  expect(ms).toBeLessThan(500);
});

it('refuses deep block nesting', () => {
  let text = '';
  for (let i = 0; i < 200; i++) text += `${' '.repeat(i)}k:\n`;
  const { problems } = load('deep-block.yaml', text);
  expect(problems[0].message).toMatch(/nested (deeper than 64 levels|too deeply)/);
});

it('refuses deep JSON nesting', () => {
  const { problems } = load('deep.json', '{"a":'.repeat(5000) + '1' + '}'.repeat(5000));
  expect(problems[0].message).toContain('nested deeper than 64');
});

it('refuses binary garbage with NUL bytes, naming where', () => {
  const { problems } = load('garbage.yaml', Buffer.from([0x76, 0x3a, 0x0a, 0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0xff]));
  expect(problems[0]).toMatchObject({ line: 2, message: expect.stringContaining('NUL bytes') });
});

it('refuses random bytes without NULs as not UTF-8', () => {
  const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => ((i * 2654435761) >>> 24) | 1));
  const { problems } = load('random.bin', bytes);
  expect(problems[0].message).toMatch(/not valid UTF-8|NUL/);
});

it('reports Latin-1 text as not UTF-8 with its position', () => {
  const { problems } = load('latin1.yaml', Buffer.concat([Buffer.from('version: 1\nname: caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
  expect(problems[0]).toMatchObject({ line: 2, column: 10, message: expect.stringContaining('not valid UTF-8 (byte 0xe9') });
});

it('reports UTF-16 files', () => {
  const { problems } = load('utf16.yaml', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('version: 1\n', 'utf16le')]));
  expect(problems[0].message).toContain('UTF-16');
});

it('accepts a UTF-8 byte order mark', () => {
  const text = '\ufeffversion: 1\nname: bom\ndataset: { name: fashion-mnist }\nstages: { train: {} }\n';
  expect(loadPipelineFile(writeTemp(dir, 'bom.yaml', text)).name).toBe('bom');
});

it('refuses a 900 KB path in one short problem, quickly', () => {
  const text = `version: 1\nname: long\ndataset: { name: image-folder, path: /${'d'.repeat(900_000)} }\nstages: { train: {} }\n`;
  const { problems, ms } = load('long-path.yaml', text);
  expect(problems).toEqual([expect.objectContaining({ path: 'dataset.path', line: 3, message: 'allows at most 4096 characters' })]);
  expect(ms).toBeLessThan(2000);
});

it('refuses NUL characters in paths and names, and very long names', () => {
  const nul = load('nul.yaml', 'version: 1\nname: "a\\0b"\ndataset: { name: cifar10, path: "/data\\0/c" }\nstages: { train: {} }\nartifacts: { location: "/runs\\0" }\n').problems;
  expect(nul.map((p) => [p.path, p.line])).toEqual([['name', 2], ['dataset.path', 3], ['artifacts.location', 5]]);
  expect(nul[0].message).toContain('lowercase letters');
  expect(nul[1].message).toBe('must not contain NUL characters');
  const long = load('long-name.yaml', `version: 1\nname: ${'a'.repeat(900_000)}\ndataset: { name: fashion-mnist }\nstages: { train: {} }\n`).problems;
  expect(long).toEqual([expect.objectContaining({ path: 'name', message: expect.stringContaining('at most 63') })]);
  expect(long[0].message.length).toBeLessThan(200);
});

it('reports duplicate keys, syntax errors, several documents and empty files', () => {
  expect(load('dup.yaml', 'version: 1\nname: a\nname: b\n').problems[0]).toMatchObject({ line: 3, column: 1, message: 'duplicate key "name"' });
  expect(load('syntax.yaml', 'version: 1\nname: [a\n').problems[0].line).toBeGreaterThanOrEqual(2);
  expect(load('multi.yaml', 'version: 1\n---\nversion: 1\n').problems[0].message).toMatch(/document/i);
  expect(load('empty.yaml', '').problems[0].message).toContain('empty');
  expect(load('scalar.yaml', 'just text\n').problems[0].message).toContain('expected object');
});

it('reports a missing file and a folder', () => {
  expect(problemsOf(() => loadPipelineFile(`${dir}/nope.yaml`))[0].message).toBe('file not found');
  expect(problemsOf(() => loadPipelineFile(dir))[0].message).toContain('folder');
});

describe('firstInvalidUtf8', () => {
  it.each([
    [[0x61, 0xc3, 0xa9], -1],
    [[0xf0, 0x9f, 0x98, 0x80], -1],
    [[0x61, 0xc0, 0xaf], 1], // overlong
    [[0xed, 0xa0, 0x80], 0], // surrogate
    [[0x61, 0xe2, 0x82], 1], // truncated
    [[0xf5, 0x80, 0x80, 0x80], 0], // past U+10FFFF
  ])('%j -> %d', (bytes, expected) => {
    expect(firstInvalidUtf8(Uint8Array.from(bytes))).toBe(expected);
  });
});
