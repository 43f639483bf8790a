/** `nas arch describe --scale alpha,beta,gamma --phi N`: inspecting B1-like models of one's own. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../../cli/commands/arch';
import { CliError } from '../../../../cli/errors';

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    return { code: await run(argv), out: lines.join('\n') };
  } finally {
    log.mockRestore();
  }
}

test('a named model scaled by the paper coefficients: phi 0 is the model itself, phi 1 is bigger', async () => {
  const plain = JSON.parse((await capture(['describe', 'efficientnet-b0', '--json'])).out);
  const phi0 = JSON.parse((await capture(['describe', 'efficientnet-b0', '--scale', '1.2,1.1,1.15', '--phi', '0', '--json'])).out);
  expect([phi0.params, phi0.macs, phi0.resolution]).toEqual([plain.params, plain.macs, 224]);
  const phi1 = JSON.parse((await capture(['describe', 'efficientnet-b0', '--scale', '1.2,1.1,1.15', '--json'])).out);
  expect(phi1.resolution).toBe(258);
  expect(phi1.scaling).toMatchObject({ alpha: 1.2, beta: 1.1, gamma: 1.15, phi: 1 });
  expect(phi1.macs / plain.macs).toBeGreaterThan(1.9);
});

test('an arch.json scaled after --resolution, with a readable summary; bad flags are explained', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scaling-cli-'));
  try {
    const file = join(dir, 'arch.json');
    writeFileSync(file, JSON.stringify({ name: 'mine', resolution: 16, stem: { channels: 8, stride: 1 }, blocks: ['e6_k5_s2_c16_se0.25_r2'], headChannels: 32, numClasses: 5 }));
    const { code, out } = await capture(['describe', file, '--resolution', '28', '--scale', '1.2,1.1,1.15', '--phi', '2']);
    expect(code).toBe(0);
    // 28 * 1.15^2 = 37.03 -> 37 px; repeats ceil(2 * 1.44) = 3; 16 * 1.21 = 19.4 rounds to 16, more
    // than 10% below, so round_filters bumps it to 24.
    expect(out).toMatch(/scaled: mine at phi 2 with alpha 1.2, beta 1.1, gamma 1.15: depth x1.440, width x1.210, resolution x1.322 \(28 -> 37 px\)/);
    expect(out).toMatch(/blocks: e6_k5_s2_c24_se0.25_r3/);
    await expect(capture(['describe', file, '--scale', '1.2,1.1'])).rejects.toThrow(CliError);
    await expect(capture(['describe', file, '--phi', '2'])).rejects.toThrow(/--phi needs --scale/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
