/**
 * Saves a tfjs LayersModel in the standard tfjs format (model.json + one weights file) into the
 * artifact store, so plain `@tensorflow/tfjs` in Node or a browser can load it. A model with a NaN
 * or infinite weight is refused (TrainingDivergedError) before anything is written: a diverged
 * training fails its stage instead of storing a model that predicts one class for every image.
 */
import type { LayersModel } from '@tensorflow/tfjs-node';
import type { ArtifactStore } from '../artifacts';
import { loadTf } from '../engine/backend';
import { assertFiniteWeights } from '../engine/train/divergence';

/** `what` names the model in the refusal, e.g. `stage train's model small_cnn`. */
export async function exportTfjsModel(model: LayersModel, store: ArtifactStore, jsonKey: string, weightsKey: string, what?: string): Promise<void> {
  const tf = loadTf();
  assertFiniteWeights(model, what);
  const weightsFile = weightsKey.slice(weightsKey.lastIndexOf('/') + 1);
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData;
      const buffers = weightData === undefined ? [] : Array.isArray(weightData) ? weightData : [weightData];
      const total = buffers.reduce((n, b) => n + b.byteLength, 0);
      const weights = new Uint8Array(total);
      let at = 0;
      for (const b of buffers) {
        weights.set(new Uint8Array(b), at);
        at += b.byteLength;
      }
      // Weights first: a model.json is only ever visible next to the weights it names.
      await store.put(weightsKey, weights);
      await store.put(
        jsonKey,
        JSON.stringify({
          format: 'layers-model',
          generatedBy: `TensorFlow.js tfjs-layers v${tf.version['tfjs-layers']}`,
          convertedBy: null,
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs }],
        }),
      );
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: total } };
    }),
  );
}
