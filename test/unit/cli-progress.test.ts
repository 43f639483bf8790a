/** The live progress line `nas run` and `nas watch` print: stage, epoch, step, rate, ETA, accuracy. */
import { formatProgress } from '../../cli/progress';

describe('progress line', () => {
  it('elastic training shows epoch, share of samples, workers, rate, ETA and the last epoch accuracy', () => {
    const line = formatProgress({
      stage: 'elastic-phi-1',
      elastic: {
        step: 1200,
        epoch: 1,
        epochs: 3,
        samplesDone: 90_000,
        samplesTotal: 180_000,
        workers: 2,
        learningRate: 0.05,
        loss: 0.3123,
        imagesPerSecond: 750,
        etaSeconds: 120,
        accuracy: { value: 0.8812, on: '2000 test images' },
      },
      attempt: 2,
    });
    expect(line).toBe(
      '[elastic-phi-1] epoch 2/3  50.0% of samples  step 1200  2 workers  lr 0.0500  loss 0.3123  750 img/s  ETA 2m00s  acc 0.8812 (2000 test images)  coordinator attempt 2',
    );
  });

  it('a training activity shows steps, rate and ETA, and the workflow-level accuracy of a one-shot search', () => {
    const line = formatProgress({
      stage: 'search',
      activity: { step: 80, totalSteps: 142, epoch: 1, epochs: 2, loss: 1.9, imagesPerSecond: 400, etaSeconds: 19 },
      accuracy: { value: 0.6, on: 'validation sample, argmax architecture' },
    });
    expect(line).toBe('[search] epoch 2/2  step 80/142  loss 1.9000  400 img/s  ETA 19s  acc 0.6000 (validation sample, argmax architecture)');
  });

  it('says nothing before a stage runs and "starting" before the first heartbeat', () => {
    expect(formatProgress({})).toBeUndefined();
    expect(formatProgress({ stage: 'train' })).toBe('[train] starting');
  });
});
