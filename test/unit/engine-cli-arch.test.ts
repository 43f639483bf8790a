import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../cli/commands/arch';
import { CliError } from '../../cli/errors';

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
  it('rejects unknown names with the list of known ones', async () => {
    await expect(run(['describe', 'resnet-50'])).rejects.toThrow(CliError);
    await expect(run(['describe', 'resnet-50'])).rejects.toThrow(/efficientnet-b0.*mobilenet-v2/);
  });
});
