/**
 * Which weights the L2 penalty covers: convolution and dense kernels, not biases, BatchNorm's
 * scale and offset, or anything else (the EfficientNet and ProxylessNAS recipes decay only
 * these). One rule for the trainer, the elastic participants, the supernet and the benchmarks.
 */
export function isDecayedKernel(weightName: string): boolean {
  return /\/(kernel|depthwise_kernel)$/.test(weightName);
}
