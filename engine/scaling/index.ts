/** Compound scaling (EfficientNet): the coefficient grid, the scaling of an ArchSpec, the baseline. */
export * from '../../core/scaling-grid';
export * from './scale-arch';
export * from './baseline';
