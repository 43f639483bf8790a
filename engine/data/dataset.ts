/**
 * An image-classification data set held as raw bytes: NHWC uint8 pixels and uint8 labels.
 * Tensors are made per batch, so an epoch never copies the whole set.
 */
export interface ImageSplit {
  /** count x height x width x channels, uint8. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface ImageDataset {
  name: string;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  classNames: string[];
  train: ImageSplit;
  test: ImageSplit;
}

export function pixelsPerImage(ds: Pick<ImageDataset, 'height' | 'width' | 'channels'>): number {
  return ds.height * ds.width * ds.channels;
}
