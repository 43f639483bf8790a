/**
 * The candidates of a search inside the latency band a one-shot search chose: nets drawn uniformly
 * from the space whose latency by the search's own per-op table lies between (1 - band) times the
 * derived net's and the derived net's. Drawing needs the table, so it is an activity; the draws
 * are seeded, so a retry draws the same nets.
 */
import { archFromChoices } from '../engine/arch/from-choices';
import { encodeBlock } from '../engine/arch/block-string';
import { enumerateSpaceOps } from '../engine/latency/space-ops';
import { mixSeed, mulberry32 } from '../core/random';
import { drawInLatencyBand, randomLatencyBaseline, type RandomLatencyBaseline } from '../engine/supernet/latency-band';
import { decisionsOf, type SearchSpace } from '../dsl/search-space';
import type { StageData } from '../dsl/dataset';
import { datasetFor, storeFor } from './context';
import { searchOps } from './latency-table';
import { loadSearchPrices } from './latency-model';

export interface BandCandidatesInput {
  artifactLocation: string;
  latencyTableKey: string;
  /** The table's calibration: where its predictor beats the plain sum, the band is drawn by calibrated latency. */
  latencyCalibrationKey?: string;
  space: SearchSpace;
  /** The resolution the table was measured at: the search's data. */
  inputResolution: number;
  /**
   * The search's data, for its channels and classes: with them the band is measured on whole-net
   * latency, stem and head included, as the table prices them. Absent only in a task scheduled by
   * a workflow from before tables held the whole net: then the band is the blocks' alone.
   */
  dataset?: StageData;
  /** The derived net's choices: the band is measured from its latency. */
  reference: number[];
  count: number;
  band: number;
  seed: number;
}

export interface BandCandidate {
  choices: number[];
  blocks: string[];
  /** Table latency, stem and head included where the table holds them. */
  tableMs: number;
}

export interface BandCandidates {
  reference: BandCandidate;
  /** Distinct nets (by the blocks they build, so never the derived net), in the order drawn. */
  candidates: BandCandidate[];
  draws: number;
  /** The derived net's latency against nets drawn uniformly from the whole space (absent in results recorded before it existed). */
  random?: RandomLatencyBaseline;
}

/** Keeps the band's draws apart from anything else seeded by the pipeline seed. */
const BAND_SALT = 0xba4d;
const BASELINE_SALT = 0x7a9d0;
/** Enough random nets for stable deciles; the table makes each one a sum, microseconds. */
const BASELINE_DRAWS = 2000;

export async function drawBandCandidates(input: BandCandidatesInput): Promise<BandCandidates> {
  const ops = input.dataset ? searchOps(input.space, input.dataset, datasetFor(input.dataset, input.seed)) : enumerateSpaceOps(input.space, { inputResolution: input.inputResolution });
  // Blocks do not depend on the data's channels or classes; any valid numbers name the same net.
  const blocksOf = (choices: readonly number[]) => archFromChoices(input.space, choices, { resolution: input.inputResolution, inputChannels: 1, numClasses: 2 }).blocks.map(encodeBlock);
  const decisions = decisionsOf(input.space);
  const { matrix, fixedMs } = await loadSearchPrices(storeFor(input.artifactLocation), input.latencyTableKey, ops, input.latencyCalibrationKey);
  const drawn = drawInLatencyBand(decisions, matrix, input.reference, {
    count: input.count,
    range: [-input.band, 0],
    rand: mulberry32(mixSeed(input.seed, BAND_SALT)),
    fixedMs,
    // Choice vectors that differ only in where a stage skips build the same net: one candidate each.
    identity: (c) => blocksOf(c).join(' '),
  });
  return {
    reference: { choices: input.reference, blocks: blocksOf(input.reference), tableMs: drawn.referenceMs },
    candidates: drawn.choices.map((choices, i) => ({ choices, blocks: blocksOf(choices), tableMs: drawn.latenciesMs[i] })),
    draws: drawn.draws,
    random: randomLatencyBaseline(decisions, matrix, input.reference, { draws: BASELINE_DRAWS, rand: mulberry32(mixSeed(input.seed, BASELINE_SALT)), fixedMs }),
  };
}
