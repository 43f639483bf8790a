/** Compound scaling (EfficientNet): the coefficient grid, the scaling of an ArchSpec, the baseline. */
export * from './grid';
export * from './scale-arch';
export * from './baseline';
