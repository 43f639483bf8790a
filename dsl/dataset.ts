/** Which data a pipeline trains and evaluates on. */
import { z } from 'zod';
import { pathString } from './strings';

const resolution = (native: number) =>
  z.number().int().min(8).max(1024).default(native).describe(`Square image size the models see; images are resized to it (default ${native}).`);

const validationFraction = z
  .number()
  .gt(0)
  .max(0.5)
  .default(0.1)
  .describe('Share of the training split held out for architecture steps and model selection, so the test split stays unseen.');

export const DatasetSchema = z
  .discriminatedUnion('name', [
    z
      .object({
        name: z.literal('fashion-mnist').describe('Fashion-MNIST: 60k/10k 28x28 grey images, 10 classes.'),
        path: pathString().optional().describe('Folder with the IDX files; default /usr/share/datasets/fashion-mnist.'),
        resolution: resolution(28),
        validationFraction,
      })
      .strict(),
    z
      .object({
        name: z.literal('image-folder').describe('Your own images: one sub-folder per class.'),
        path: pathString().describe('Folder holding one sub-folder of images per class.'),
        resolution: resolution(64),
        validationFraction,
      })
      .strict(),
    z
      .object({
        name: z.literal('cifar10').describe('CIFAR-10 in its binary format: 50k/10k 32x32 colour images.'),
        path: pathString().describe('Folder holding data_batch_1.bin ... data_batch_5.bin and test_batch.bin.'),
        resolution: resolution(32),
        validationFraction,
      })
      .strict(),
  ])
  .describe('The data set; `name` picks the format.');

export type DatasetConfig = z.output<typeof DatasetSchema>;

/**
 * The data one stage trains on: the pipeline's data set, optionally cut to a seeded sample of its
 * training split (the stage's `trainSubset`) so that search and scaling trials can stay short while
 * the final training sees everything. The test split is never cut.
 */
export type StageData = DatasetConfig & { trainSubset?: number };

/** `data` cut to `trainSubset` training images when the stage sets it. */
export function stageData(data: DatasetConfig, trainSubset: number | undefined): StageData {
  return trainSubset === undefined ? data : { ...data, trainSubset };
}
export const DATASET_NAMES = ['fashion-mnist', 'image-folder', 'cifar10'] as const;
