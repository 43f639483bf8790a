/** A stage's `trainSubset`: a seeded, process-independent sample of the training split only. */
import { datasetFor } from '../../../activities/context';
import { stageData, type DatasetConfig } from '../../../dsl/pipeline';
import { pixelsPerImage } from '../../../engine/data/dataset';

const fashion: DatasetConfig = { name: 'fashion-mnist', resolution: 28, validationFraction: 0.1 };

describe('trainSubset', () => {
  it('leaves the data set as it is when the stage does not set it', () => {
    expect(stageData(fashion, undefined)).toBe(fashion);
  });

  it('cuts the training split to a seeded sample and keeps the whole test split', () => {
    const full = datasetFor(fashion, 1);
    const cut = datasetFor(stageData(fashion, 5000), 1);
    expect(cut.train.count).toBe(5000);
    expect(cut.train.labels.length).toBe(5000);
    expect(cut.train.images.length).toBe(5000 * pixelsPerImage(full));
    expect(cut.test).toBe(full.test);
    // Every class is still there: a random sample, not the first 5000 images.
    expect(new Set(cut.train.labels).size).toBe(10);
  });

  it('draws the same sample for the same seed and another for another seed', () => {
    // Cache keys include the seed, so these are separate cuts, compared by their bytes.
    const a = datasetFor(stageData(fashion, 3000), 7);
    const b = datasetFor(stageData({ ...fashion }, 3000), 7);
    const c = datasetFor(stageData(fashion, 3000), 8);
    expect(Buffer.from(b.train.images).equals(Buffer.from(a.train.images))).toBe(true);
    expect(Buffer.from(c.train.images).equals(Buffer.from(a.train.images))).toBe(false);
  });
});
