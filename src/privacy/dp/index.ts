export { bernoulliExp, discreteGaussian, discreteLaplace } from './discrete-noise.ts';
export { ALPHA, laplaceHalfWidth, type NoisyValue, noisyInteger, noisyRatio, noisyReal } from './noise.ts';
export { type NoisyQuantile, noisyQuantiles, prefixErrorBounds } from './noisy-quantiles.ts';
export { releaseGroup, type SelectionParams, selectionThreshold } from './partition-selection.ts';
export { cryptoRandom, type RandomSource, seededRandom } from './random-source.ts';
export { exactRational, type Rational } from './rational.ts';
