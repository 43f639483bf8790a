import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore } from '../../../../artifacts';
import { run } from '../../../../cli/commands/arch';
import { CliError } from '../../../../cli/errors';

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    const code = await run(argv);
    return { code, out: lines.join('\n') };
  } finally {
    log.mockRestore();
  }
}

describe('nas arch describe', () => {
  it('prints params and MACs as JSON; B7 at 600 by shape inference in seconds', async () => {
    const b0 = JSON.parse((await capture(['describe', 'efficientnet-b0', '--json'])).out);
    expect([b0.params, b0.trainableParams, b0.macs]).toEqual([5_330_564, 5_288_548, 385_814_752]);
    const start = Date.now();
    const b7 = JSON.parse((await capture(['describe', 'efficientnet-b7', '--json'])).out);
    expect(Date.now() - start).toBeLessThan(20_000);
    expect([b7.resolution, b7.trainableParams]).toEqual([600, 66_347_960]);
    const small = JSON.parse((await capture(['describe', 'mobilenet-v2', '--resolution', '32', '--classes', '10', '--channels', '1', '--json'])).out);
    expect([small.resolution, small.numClasses, small.layers.at(-1).outputShape]).toEqual([32, 10, [10]]);
  });
  it('prints a per-layer table and reads arch.json files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arch-cli-'));
    try {
      const file = join(dir, 'arch.json');
      writeFileSync(file, JSON.stringify({ name: 'mine', resolution: 16, stem: { channels: 8 }, blocks: ['e6_k5_s2_c16_se0.25'], headChannels: 32, numClasses: 5 }));
      const { code, out } = await capture(['describe', file]);
      expect(code).toBe(0);
      expect(out).toMatch(/block1a_dw_dwconv\s+DepthwiseConv2D\s+4x4x48/);
      expect(out).toMatch(/^params: /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('reads the arch.json a run stored in a local artifact folder, and refuses it when corrupted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arch-cli-'));
    try {
      const store = new LocalArtifactStore(dir);
      const arch = { name: 'stored', resolution: 16, stem: { channels: 8 }, blocks: ['e3_k3_s2_c16'], headChannels: 32, numClasses: 5 };
      await store.put('runs/r1/scaling/phi-1.arch.json', JSON.stringify(arch));
      const file = join(dir, 'runs/r1/scaling/phi-1.arch.json');
      const described = JSON.parse((await capture(['describe', file, '--json'])).out);
      expect([described.name, described.resolution, described.numClasses]).toEqual(['stored', 16, 5]);
      writeFileSync(file, readFileSync(file, 'utf8').replace('"stored"', '"storeD"'));
      await expect(run(['describe', file])).rejects.toThrow(/corrupt: checksum mismatch/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('rejects unknown names with the list of known ones', async () => {
    await expect(run(['describe', 'resnet-50'])).rejects.toThrow(CliError);
    await expect(run(['describe', 'resnet-50'])).rejects.toThrow(/efficientnet-b0.*mobilenet-v2/);
  });
});
