/** The result table `nas run` and `nas status` print (cli/result-view.ts): models at chance are marked and explained. */
import { MARK, printOutcome } from '../../../cli/result-view';
import { runLayout } from '../../../core/run-layout';
import type { PipelineWorkflowResult } from '../../../workflows/pipeline';

function printed(result: PipelineWorkflowResult): string[] {
  const lines: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
  try {
    printOutcome(result, '/artifacts');
  } finally {
    log.mockRestore();
  }
  return lines.flatMap((l) => l.split('\n'));
}

const row = (id: string, label: string, testAccuracy: number, classes?: number) => ({
  id,
  role: 'scaled' as const,
  label,
  params: 123_456,
  macs: 4.2e6,
  testAccuracy,
  latency: { cpu: { medianMs: 1.5, p90Ms: 1.8 } },
  resultKey: runLayout('r').evaluation.model(id),
  ...(classes === undefined ? {} : { classes }),
});

const result = (models: ReturnType<typeof row>[]): PipelineWorkflowResult => ({
  runId: 'r',
  stages: [],
  evaluation: { summaryKey: runLayout('r').evaluation.summary, models },
});

test('a model at chance gets a marker in the table and a note below it; the columns stay aligned', () => {
  const lines = printed(result([row('elastic-phi-1', 'phi 1', 0.1, 10), row('train', 'small CNN', 0.8812, 10)]));
  const header = lines.find((l) => /^\s+model\s+role\s+test acc\s+params\s+MACs\s+cpu ms \(median\/p90\)$/.test(l))!;
  expect(header).toBeDefined();
  const flagged = lines.find((l) => l.includes('phi 1') && l.includes('scaled'))!;
  const fine = lines.find((l) => l.includes('small CNN') && l.includes('scaled'))!;
  expect(flagged).toContain(`0.1000 ${MARK}`);
  expect(fine).toContain('0.8812');
  expect(fine).not.toContain(MARK);
  expect([flagged.length, fine.length]).toEqual([header.length, header.length]);
  // The accuracies' decimal points line up.
  expect(flagged.indexOf('0.1000')).toBe(fine.indexOf('0.8812'));
  const table = lines.indexOf(fine);
  expect(lines[table + 1]).toBe(`  ${MARK} phi 1: test accuracy 0.1000 is at or near chance (0.1000 for 10 classes): the model may predict one class for every image`);
  expect(lines.filter((l) => l.includes(MARK))).toHaveLength(2);
});

test('nothing at chance, or no class count (a run from before it was recorded): the table as before', () => {
  for (const models of [[row('train', 'small CNN', 0.8812, 10)], [row('train', 'small CNN', 0.1)]]) {
    const lines = printed(result(models));
    expect(lines.some((l) => l.includes(MARK))).toBe(false);
    expect(lines.find((l) => l.includes('small CNN'))).toMatch(/scaled\s+0\.\d{4}\s+123,456/);
  }
});

test('the train stage and elastic training lines are marked too', () => {
  const lines = printed({
    runId: 'r',
    stages: [],
    train: { modelKey: 'm', modelWeightsKey: 'w', inputShape: [28, 28, 1], metricsKey: 'x', testAccuracy: 0.1, testLoss: 2.3, classes: 10, steps: 50, resumedFromStep: 0, attempt: 1, trainSeconds: 3, latency: [] },
    elastic: [
      {
        model: { kind: 'small-cnn', filters: 16 },
        modelKey: 'm',
        modelWeightsKey: 'w',
        inputShape: [28, 28, 1],
        metricsKey: 'x',
        logPrefix: 'l',
        testAccuracy: 0.12,
        testLoss: 2.3,
        classes: 10,
        steps: 50,
        epochs: 1,
        workersSeen: 1,
        resumedFromStep: 0,
        attempt: 1,
        trainSeconds: 3,
      },
    ],
  });
  expect(lines).toContain(`test accuracy: 0.1000 ${MARK}`);
  expect(lines.some((l) => l.startsWith(`${MARK} test accuracy 0.1000 is at or near chance`))).toBe(true);
  expect(lines.some((l) => l.endsWith(`test accuracy 0.1200 ${MARK}`))).toBe(true);
  expect(lines).toContain(`    ${MARK} test accuracy 0.1200 is at or near chance (0.1000 for 10 classes): the model may predict one class for every image`);
});
