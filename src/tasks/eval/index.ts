/** Instances from affinities (watershed, agglomeration) and segmentation scores (VOI, adapted Rand). */
export { boundaryMap } from './affinity-graph.js';
export { watershed, type WatershedOptions, type Fragments, type SeedMode } from './watershed.js';
export { hMinimaSeeds, distanceSeeds, type Seeds, type DistanceSeedOptions } from './seeds.js';
export { distanceTransform } from './distance-transform.js';
export { intensityAffinities, type IntensityAffinityOptions } from './intensity-affinities.js';
export { gaussianSmooth } from '../../data/gaussian-smooth.js';
export {
  chooseSegmentation,
  applySegmentation,
  scoreSweep,
  DEFAULT_SEGMENTATION_GRID,
  type SegmentationParams,
  type SegmentationGrid,
  type SegmentationTask,
  type ScoredParams,
} from './tune.js';
export { agglomerate, type AgglomerateOptions, type ThresholdSegmentation } from './agglomerate.js';
export { segment, type SegmentOptions } from './segment.js';
export { contingency, type ContingencyTable } from './contingency.js';
export { variationOfInformation, type Voi } from './voi.js';
export { adaptedRand, type AdaptedRand } from './rand.js';
export { borderMask } from './border-mask.js';
export { labelIds, type LabelArray } from './labels.js';
export { evaluateSegmentation, type EvaluateOptions, type SegmentationScores } from './metrics.js';
export { UnionFind } from './union-find.js';
export { MinHeap } from './heap.js';
export { BucketQueue } from './bucket-queue.js';
export {
  segmentFile,
  evaluateFiles,
  bestScores,
  readAffinities,
  thresholdKey,
  SEGMENTATION_GROUP,
  type SegmentFileResult,
  type ScoredDataset,
} from './files.js';
