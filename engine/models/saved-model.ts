/** A tfjs model exported to a folder (model.json and its weights): the export users ship, read back from disk. */
import { join } from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-node';
import { loadTf } from '../backend';

export async function loadSavedModel(modelDir: string): Promise<LayersModel> {
  const tf = loadTf();
  return tf.loadLayersModel(tf.io.fileSystem(join(modelDir, 'model.json')));
}
