import { ArtifactKeyError, joinKey, validateKey } from '../../../artifacts/store';

describe('validateKey', () => {
  it.each(['a', 'runs/r1/stage-0/checkpoint.bin', 'A9/b_c=d+e-f.g'])('accepts %s', (key) => {
    expect(validateKey(key)).toBe(key);
  });

  it('accepts keys up to 512 characters', () => {
    expect(validateKey('x'.repeat(512))).toHaveLength(512);
  });

  it.each([
    ['', 'empty'],
    ['..', 'parent segment'],
    ['a/../b', 'parent segment inside'],
    ['./a', 'dot segment'],
    ['/etc/passwd', 'absolute'],
    ['C:/x', 'drive letter'],
    ['a//b', 'empty segment'],
    ['a/', 'trailing slash without allowPrefix'],
    ['a\\b', 'backslash'],
    ['a b', 'space'],
    ['.hidden', 'leading dot (reserved for store bookkeeping)'],
    ['a/.tmp-123', 'temp-file name'],
    ['héllo', 'non-ASCII'],
    ['a\nb', 'newline'],
    ['a?b', 'query character'],
  ])('rejects %j (%s)', (key) => {
    expect(() => validateKey(key)).toThrow(ArtifactKeyError);
  });

  it('rejects keys over 512 characters', () => {
    expect(() => validateKey('x'.repeat(513))).toThrow(/longer than 512/);
  });

  it('names the key and the reason in the error', () => {
    expect(() => validateKey('a/../b')).toThrow(/invalid artifact key "a\/..\/b": has a ".." segment/);
  });

  it('allows prefixes, including the empty one and a trailing slash, only when asked', () => {
    expect(validateKey('', { allowPrefix: true })).toBe('');
    expect(validateKey('runs/', { allowPrefix: true })).toBe('runs/');
    expect(() => validateKey('runs//', { allowPrefix: true })).toThrow(ArtifactKeyError);
    expect(() => validateKey('../', { allowPrefix: true })).toThrow(ArtifactKeyError);
  });
});

describe('joinKey', () => {
  it('joins with slashes and skips empty parts', () => {
    expect(joinKey('runs', 'r1', '', 'model.json')).toBe('runs/r1/model.json');
  });

  it('validates the joined key', () => {
    expect(() => joinKey('runs', '..', 'x')).toThrow(ArtifactKeyError);
    expect(() => joinKey('runs', 'a/../b')).toThrow(ArtifactKeyError);
    expect(() => joinKey()).toThrow(ArtifactKeyError);
  });
});
