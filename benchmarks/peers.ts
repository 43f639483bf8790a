/**
 * Our engine against PyTorch and Keras on identical networks, interleaved in one run: training
 * images/s (forward, loss, backward, SGD-momentum update; fp32) at each batch size, and batch-1
 * inference latency, with the ratios.
 *
 *   npx tsx benchmarks/peers.ts [--quick] [--nets mobilenet-v2,efficientnet-b0,quickstart-phi1]
 *       [--batches 64,256] [--rounds 3] [--steps N|auto] [--images 1024] [--max-seconds 10] [--warmup 2]
 *       [--modes graph,eager] [--torch-modes eager,channels_last,compile] [--keras-modes graph]
 *       [--threads 2] [--inference-runs 50] [--python .bench-venv/bin/python]
 *
 * Networks: MobileNetV2 and EfficientNet-B0 at width 0.5 adapted to 28x28x1 with three
 * downsamplings (profile-step.ts's archFor), and the quickstart's phi-1 model
 * (benchmarks/nets/quickstart-phi1.arch.json). Each is written once as the engine's ArchSpec JSON;
 * the PyTorch twin (mbconv_torch.py) and the Keras twin (mbconv_keras.py) are built from that file,
 * and the run stops before timing anything unless all three count the same parameters.
 *
 * Processes: ours runs each measurement in a fresh child (peers-ours.ts, one per --modes entry);
 * PyTorch and Keras each run in one persistent worker that keeps what it built, so torch.compile
 * compiles each configuration once (in its first warm-up, not timed) rather than every round.
 * In each round every (net, batch) is measured by every column back to back, the order rotated
 * from round to round, so all columns see the same machine load; a cell is the median over rounds.
 *
 * Threads (`--threads`, default: the machine's cores): the same number for intra-op and inter-op
 * work everywhere: TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS for ours (libtensorflow reads
 * them when tfjs-node creates its context), torch.set_num_threads / set_num_interop_threads,
 * tf.config.threading for Keras; OMP_NUM_THREADS and MKL_NUM_THREADS as well for all of them.
 *
 * The Python side needs the benchmark-only venv (never installed by infra/setup.sh):
 *   python3 -m venv .bench-venv && .bench-venv/bin/pip install -r benchmarks/requirements-peers.txt
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { backendInfo } from '../engine/backend';
import { readArchFile } from '../cli/arch-file';
import { scaledEfficientNet } from '../engine/arch/efficientnet';
import { mobileNetV2 } from '../engine/arch/mobilenet-v2';
import { adaptToSmallInput } from '../engine/arch/small-input';
import type { ArchSpec } from '../engine/arch/spec';
import { countMacs } from '../engine/latency/macs';
import { buildArchModel } from '../engine/models/arch-model';
import { countParams } from '../engine/models/param-count';

const REPO = resolve(__dirname, '..');

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    nets: { type: 'string' },
    batches: { type: 'string' },
    rounds: { type: 'string' },
    steps: { type: 'string' },
    images: { type: 'string' },
    warmup: { type: 'string' },
    'max-seconds': { type: 'string' },
    modes: { type: 'string', default: 'graph,eager' },
    'torch-modes': { type: 'string' },
    'keras-modes': { type: 'string', default: 'graph' },
    threads: { type: 'string', default: String(cpus().length) },
    'inference-runs': { type: 'string' },
    'inference-warmup': { type: 'string' },
    python: { type: 'string', default: join(REPO, '.bench-venv', 'bin', 'python') },
  },
});

/**
 * A measurement times `--steps` steps (auto: `--images` / batch, at least 3), or fewer once
 * `--max-seconds` have passed: a column that another job on the machine slows tenfold (OpenMP's
 * threads wait for each other when a core is taken) then costs seconds, not minutes.
 * --quick: every net at batch 64, two rounds of up to 512 images, no torch.compile (compiling
 * alone takes one to two minutes per configuration here). Explicit flags override the preset.
 */
const preset = values.quick
  ? { batches: '64', rounds: '2', images: '512', maxSeconds: '4', torchModes: 'eager,channels_last', inferenceRuns: '20', inferenceWarmup: '5' }
  : { batches: '64,256', rounds: '3', images: '1024', maxSeconds: '10', torchModes: 'eager,channels_last,compile', inferenceRuns: '50', inferenceWarmup: '10' };

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const opts = {
  nets: list(values.nets ?? 'mobilenet-v2,efficientnet-b0,quickstart-phi1'),
  batches: list(values.batches ?? preset.batches).map(Number),
  rounds: Number(values.rounds ?? preset.rounds),
  images: Number(values.images ?? preset.images),
  steps: values.steps ?? 'auto',
  warmup: Number(values.warmup ?? '2'),
  maxSeconds: Number(values['max-seconds'] ?? preset.maxSeconds),
  modes: list(values.modes!),
  torchModes: list(values['torch-modes'] ?? preset.torchModes),
  kerasModes: list(values['keras-modes']!),
  threads: Number(values.threads),
  inferenceRuns: Number(values['inference-runs'] ?? preset.inferenceRuns),
  inferenceWarmup: Number(values['inference-warmup'] ?? preset.inferenceWarmup),
  python: values.python!,
};

/** profile-step.ts's archFor: the Fashion-MNIST benchmark's networks. */
function archFor(name: string, width: number, downsamplings: number): ArchSpec {
  const small = { resolution: 28, inputChannels: 1, numClasses: 10, downsamplings };
  if (name === 'mobilenet-v2') return adaptToSmallInput(mobileNetV2(width, 224, 10), { ...small, name: `mobilenet-v2-w${width}-28px` });
  const b0 = scaledEfficientNet({ width, depth: 1.0, resolution: 224, dropout: 0.2 }, `efficientnet-b0-w${width}`, 10);
  return adaptToSmallInput(b0, { ...small, name: `efficientnet-b0-w${width}-28px` });
}

const NETS: Record<string, () => ArchSpec> = {
  'mobilenet-v2': () => archFor('mobilenet-v2', 0.5, 3),
  'efficientnet-b0': () => archFor('efficientnet-b0', 0.5, 3),
  'quickstart-phi1': () => readArchFile(join(__dirname, 'nets', 'quickstart-phi1.arch.json')),
};

interface TrainLine {
  imagesPerSecond: number;
  steps: number;
  params: number;
  cpuPerWall: number;
  warmupSeconds?: number;
}
interface InferLine {
  medianMs: number;
  params: number;
  cpuPerWall: number;
  warmupSeconds?: number;
}
type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

/** One column of the table: a framework in one mode. */
interface Column {
  id: string;
  ours: boolean;
  train(archFile: string, batch: number, steps: number, warmup: number, maxSeconds: number): Promise<Outcome<TrainLine>>;
  /** Absent: this column has no inference entry of its own (ours' modes share one). */
  infer?(archFile: string, runs: number, warmup: number): Promise<Outcome<InferLine>>;
}

function childEnv(): NodeJS.ProcessEnv {
  const n = String(opts.threads);
  return {
    ...process.env,
    TF_NUM_INTRAOP_THREADS: n,
    TF_NUM_INTEROP_THREADS: n,
    OMP_NUM_THREADS: n,
    MKL_NUM_THREADS: n,
    TF_CPP_MIN_LOG_LEVEL: '2',
  };
}

/** Runs a child to completion; its last stdout line is the JSON answer. */
function runChild(cmd: string, args: string[]): Promise<Outcome<Record<string, unknown>>> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { env: childEnv(), cwd: REPO });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => done({ ok: false, error: e.message }));
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        done({ ok: false, error: `exit ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}` });
        return;
      }
      done({ ok: true, value: JSON.parse(last) as Record<string, unknown> });
    });
  });
}

function oursColumn(mode: string, withInference: boolean): Column {
  const tsx = join(REPO, 'node_modules', '.bin', 'tsx');
  const script = join(__dirname, 'peers-ours.ts');
  const col: Column = {
    id: `ours ${mode}`,
    ours: true,
    train: async (arch, batch, steps, warmup, maxSeconds) =>
      (await runChild(tsx, [script, '--arch', arch, '--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup), '--mode', mode, '--max-seconds', String(maxSeconds)])) as Outcome<TrainLine>,
  };
  if (withInference) {
    col.infer = async (arch, runs, warmup) => (await runChild(tsx, [script, '--arch', arch, '--inference', '--runs', String(runs), '--warmup', String(warmup)])) as Outcome<InferLine>;
  }
  return col;
}

/** A persistent Python worker (mbconv_torch.py / mbconv_keras.py --serve): one request at a time. */
class Worker {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private stderrTail: string[] = [];

  constructor(
    readonly name: string,
    script: string,
  ) {
    this.child = spawn(opts.python, [script, '--serve', '--threads', String(opts.threads)], { env: childEnv(), cwd: REPO });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderrTail.push(...d.toString().split('\n').filter(Boolean));
      this.stderrTail = this.stderrTail.slice(-20);
    });
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async request<T>(req: Record<string, unknown>): Promise<Outcome<T>> {
    if (this.child.exitCode !== null) return { ok: false, error: `${this.name} worker exited: ${this.stderrTail.slice(-3).join(' | ')}` };
    this.child.stdin.write(`${JSON.stringify(req)}\n`);
    for (;;) {
      const next = await this.lines.next();
      if (next.done) return { ok: false, error: `${this.name} worker exited: ${this.stderrTail.slice(-3).join(' | ')}` };
      // A library may print to stdout too; the worker's answers are the lines that open with {"ok".
      if (!next.value.startsWith('{"ok"')) continue;
      const answer = JSON.parse(next.value) as { ok: boolean; error?: string } & T;
      return answer.ok ? { ok: true, value: answer } : { ok: false, error: answer.error ?? 'unknown error' };
    }
  }

  close(): void {
    if (this.child.exitCode === null) this.child.stdin.end(`${JSON.stringify({ op: 'exit' })}\n`);
  }
}

function workerColumn(worker: Worker, mode: string, label: string): Column {
  return {
    id: label,
    ours: false,
    train: (arch, batch, steps, warmup, maxSeconds) => worker.request<TrainLine>({ op: 'train', arch, batch, steps, warmup, mode, maxSeconds }),
    infer: (arch, runs, warmup) => worker.request<InferLine>({ op: 'infer', arch, runs, warmup, mode }),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmtLoad = () => loadavg().map((x) => x.toFixed(2)).join(' ');

function stepsFor(batch: number): number {
  return opts.steps === 'auto' ? Math.max(3, Math.round(opts.images / batch)) : Number(opts.steps);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i < 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** "412 ±3%": the median and half the range over rounds as a share of it. */
function cell(xs: number[] | undefined, digits: number): string {
  if (!xs || xs.length === 0) return 'n/a';
  const m = median(xs);
  const spread = xs.length > 1 ? ` ±${Math.round(((Math.max(...xs) - Math.min(...xs)) / 2 / m) * 100)}%` : '';
  return `${m.toFixed(digits)}${spread}`;
}

async function main() {
  const started = Date.now();
  const loadStart = fmtLoad();
  if (!existsSync(opts.python)) {
    console.error(
      `no Python at ${opts.python}. Create the benchmark-only venv (several GB: PyPI's torch for linux pulls CUDA libraries):\n` +
        `  python3 -m venv .bench-venv && .bench-venv/bin/pip install -r benchmarks/requirements-peers.txt\n` +
        `or pass --python PATH to an interpreter that has torch and tensorflow-cpu==2.15.1.`,
    );
    process.exit(1);
  }
  for (const n of opts.nets) if (!NETS[n]) throw new Error(`--nets: unknown net ${n}; known: ${Object.keys(NETS).join(', ')}`);

  const dir = mkdtempSync(join(tmpdir(), 'nas-peers-'));
  const torch = new Worker('torch', join(__dirname, 'mbconv_torch.py'));
  const keras = new Worker('keras', join(__dirname, 'mbconv_keras.py'));
  try {
    const info = backendInfo();
    const tInfo = await torch.request<{ version: string; threads: number; interopThreads: number }>({ op: 'info' });
    const kInfo = await keras.request<{ version: string; threads: { intraOp: number; interOp: number } }>({ op: 'info' });
    if (!tInfo.ok || !kInfo.ok) {
      throw new Error(
        `the Python workers did not start (${!tInfo.ok ? `torch: ${tInfo.error}` : ''} ${!kInfo.ok ? `keras: ${kInfo.error}` : ''}); ` +
          `is ${opts.python} the venv from benchmarks/requirements-peers.txt?`,
      );
    }
    console.log(`ours:    ${info.package} ${info.version}, libtensorflow ${info.libtensorflowStaged ?? '?'}, TF_NUM_INTRAOP_THREADS=TF_NUM_INTEROP_THREADS=${opts.threads}`);
    console.log(`pytorch: ${tInfo.value.version}, set_num_threads(${tInfo.value.threads}), set_num_interop_threads(${tInfo.value.interopThreads})`);
    console.log(`keras:   tensorflow ${kInfo.value.version}, intra-op ${kInfo.value.threads.intraOp}, inter-op ${kInfo.value.threads.interOp} (tf.config.threading)`);
    console.log(`load average at start: ${loadStart} (${cpus().length} cores)`);

    // Each net written once as the engine's ArchSpec; every framework builds from that file.
    const archFiles = new Map<string, string>();
    const expected = new Map<string, number>();
    const paramRows: string[][] = [];
    for (const name of opts.nets) {
      const arch = NETS[name]();
      const file = join(dir, `${name}.arch.json`);
      writeFileSync(file, JSON.stringify(arch));
      archFiles.set(name, file);
      const model = buildArchModel(arch, { seed: 1 });
      const ours = countParams(model).total;
      model.dispose();
      const probe = buildArchModel(arch, { zeroInit: true, inferenceOnly: true });
      const macs = countMacs(probe);
      probe.dispose();
      const t = await torch.request<{ params: number }>({ op: 'params', arch: file });
      const k = await keras.request<{ params: number }>({ op: 'params', arch: file });
      if (!t.ok) throw new Error(`torch could not build ${name}: ${t.error}`);
      if (!k.ok) throw new Error(`keras could not build ${name}: ${k.error}`);
      paramRows.push([name, String(arch.resolution), ours.toLocaleString('en-US'), t.value.params.toLocaleString('en-US'), k.value.params.toLocaleString('en-US'), `${(macs / 1e6).toFixed(2)}M`]);
      if (t.value.params !== ours || k.value.params !== ours) {
        console.log(table(['net', 'px', 'ours params', 'torch params', 'keras params', 'MACs'], paramRows));
        throw new Error(`${name}: parameter counts differ (ours ${ours}, torch ${t.value.params}, keras ${k.value.params}): the twins are not the same network`);
      }
      expected.set(name, ours);
    }
    console.log('\nparameters (weights + BatchNorm statistics), equal in all three:');
    console.log(table(['net', 'px', 'ours params', 'torch params', 'keras params', 'MACs'], paramRows));

    const columns: Column[] = [
      ...opts.modes.map((m, i) => oursColumn(m, i === 0)),
      ...opts.torchModes.map((m) => workerColumn(torch, m, m === 'compile' ? 'torch.compile' : `torch ${m}`)),
      ...opts.kerasModes.map((m) => workerColumn(keras, m, `keras ${m}`)),
    ];
    const configs = opts.nets.flatMap((net) => opts.batches.map((batch) => ({ net, batch })));
    const train = new Map<string, number[]>();
    const infer = new Map<string, number[]>();
    const errors = new Map<string, string>();
    const notes: string[] = [];
    const key = (...parts: (string | number)[]) => parts.join('|');
    const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);

    console.log(
      `\n${opts.rounds} rounds; training: ${opts.batches.map((b) => `batch ${b} x ${stepsFor(b)} steps`).join(', ')} (fewer after ${opts.maxSeconds} s) after ${opts.warmup} warm-up steps; ` +
        `inference: batch 1, median of ${opts.inferenceRuns} runs after ${opts.inferenceWarmup}`,
    );
    for (let round = 0; round < opts.rounds; round++) {
      console.log(`round ${round + 1}/${opts.rounds}, load average ${fmtLoad()}`);
      for (const [ci, { net, batch }] of configs.entries()) {
        // Rotated by round and config, so no column is always first (or last) after another.
        const order = columns.map((_, i) => columns[(i + round + ci) % columns.length]);
        for (const col of order) {
          const k = key(net, batch, col.id);
          if (errors.has(k)) continue;
          const r = await col.train(archFiles.get(net)!, batch, stepsFor(batch), opts.warmup, opts.maxSeconds);
          if (!r.ok) {
            errors.set(k, r.error);
            console.log(`  ${net} b${batch} ${col.id}: n/a (${r.error})`);
            continue;
          }
          if (r.value.params !== expected.get(net)) throw new Error(`${col.id} trained ${net} with ${r.value.params} params, expected ${expected.get(net)}`);
          push(train, k, r.value.imagesPerSecond);
          // The first warm-up of a torch.compile configuration is its compile time.
          const compiled = col.id === 'torch.compile' && round === 0 && r.value.warmupSeconds !== undefined;
          if (compiled) notes.push(`torch.compile ${net} b${batch}: first warm-up (compiling) ${r.value.warmupSeconds!.toFixed(0)} s`);
          const extra = compiled ? `, first warm-up ${r.value.warmupSeconds!.toFixed(0)} s` : '';
          console.log(`  ${net} b${batch} ${col.id}: ${r.value.imagesPerSecond.toFixed(1)} images/s over ${r.value.steps} steps, cpu/wall ${r.value.cpuPerWall.toFixed(2)}${extra}`);
        }
      }
      if (opts.inferenceRuns > 0) {
        for (const [ni, net] of opts.nets.entries()) {
          const withInfer = columns.filter((c) => c.infer);
          const order = withInfer.map((_, i) => withInfer[(i + round + ni) % withInfer.length]);
          for (const col of order) {
            const k = key(net, 'infer', col.id);
            if (errors.has(k)) continue;
            const r = await col.infer!(archFiles.get(net)!, opts.inferenceRuns, opts.inferenceWarmup);
            if (!r.ok) {
              errors.set(k, r.error);
              console.log(`  ${net} infer ${col.id}: n/a (${r.error})`);
              continue;
            }
            if (r.value.params !== expected.get(net)) throw new Error(`${col.id} inferred ${net} with ${r.value.params} params, expected ${expected.get(net)}`);
            push(infer, k, r.value.medianMs);
            const compiled = col.id === 'torch.compile' && round === 0 && r.value.warmupSeconds !== undefined;
            if (compiled) notes.push(`torch.compile ${net} inference: first warm-up (compiling) ${r.value.warmupSeconds!.toFixed(0)} s`);
            const extra = compiled ? `, first warm-up ${r.value.warmupSeconds!.toFixed(0)} s` : '';
            console.log(`  ${net} infer ${col.id}: ${r.value.medianMs.toFixed(2)} ms, cpu/wall ${r.value.cpuPerWall.toFixed(2)}${extra}`);
          }
        }
      }
    }

    const loadEnd = fmtLoad();
    const ours = columns.filter((c) => c.ours);
    const peers = columns.filter((c) => !c.ours);
    const ratioName = (o: Column, p: Column) => `${ours.length > 1 ? o.id : 'ours'}/${p.id}`;
    const ratio = (a: number[] | undefined, b: number[] | undefined) => (a?.length && b?.length ? (median(a) / median(b)).toFixed(2) : 'n/a');

    console.log(`\ntraining images/s, median of ${opts.rounds} rounds (± half the range over rounds); ours/X = ours' images/s over X's (above 1: ours is faster)`);
    const trainRows = configs.map(({ net, batch }) => [
      net,
      String(batch),
      ...columns.map((c) => cell(train.get(key(net, batch, c.id)), 0)),
      ...ours.flatMap((o) => peers.map((p) => ratio(train.get(key(net, batch, o.id)), train.get(key(net, batch, p.id))))),
    ]);
    console.log(table(['net', 'batch', ...columns.map((c) => c.id), ...ours.flatMap((o) => peers.map((p) => ratioName(o, p)))], trainRows));

    if (opts.inferenceRuns > 0) {
      const inferCols = columns.filter((c) => c.infer);
      const oursInfer = inferCols[0];
      console.log(`\nbatch-1 inference latency, ms (median of each round's median over ${opts.inferenceRuns} runs; ± half the range over rounds); ours/X = X's ms over ours' (above 1: ours is faster)`);
      const inferRows = opts.nets.map((net) => [
        net,
        '1',
        ...inferCols.map((c) => cell(infer.get(key(net, 'infer', c.id)), 2)),
        ...inferCols.slice(1).map((p) => ratio(infer.get(key(net, 'infer', p.id)), infer.get(key(net, 'infer', oursInfer.id)))),
      ]);
      console.log(table(['net', 'batch', ...inferCols.map((c) => (c.ours ? 'ours' : c.id)), ...inferCols.slice(1).map((p) => `ours/${p.id}`)], inferRows));
    }

    const failures = new Map<string, string>();
    for (const [k, e] of errors) {
      const col = k.split('|')[2];
      if (!failures.has(col)) failures.set(col, `${col}: n/a in ${[...errors.keys()].filter((x) => x.endsWith(`|${col}`)).length} configuration(s): ${e}`);
    }
    for (const f of failures.values()) console.log(`\n${f}`);
    for (const n of notes) console.log(n);
    console.log(`\nload average at start: ${loadStart}; at end: ${loadEnd}; ${((Date.now() - started) / 60000).toFixed(1)} min`);
    console.log(`reproduce: npx tsx benchmarks/peers.ts ${process.argv.slice(2).join(' ')}`.trimEnd());
  } finally {
    torch.close();
    keras.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
