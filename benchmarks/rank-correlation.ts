/**
 * Kendall's tau-b: how often two scorings order a pair of items the same way, with ties counted
 * as neither agreement nor disagreement (the form NAS papers report for supernet rankings, e.g.
 * "Evaluating the search phase of neural architecture search", Yu et al. 2020). 1 is the same
 * order, -1 the reverse, about 0 no relation. NaN when either scoring ties every pair.
 */
export function kendallTau(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new Error(`kendallTau: ${xs.length} scores against ${ys.length}`);
  let concordant = 0;
  let discordant = 0;
  let tiedX = 0;
  let tiedY = 0;
  for (let i = 0; i < xs.length; i++) {
    for (let j = i + 1; j < xs.length; j++) {
      const dx = Math.sign(xs[i] - xs[j]);
      const dy = Math.sign(ys[i] - ys[j]);
      if (dx === 0 && dy === 0) continue;
      if (dx === 0) tiedX++;
      else if (dy === 0) tiedY++;
      else if (dx === dy) concordant++;
      else discordant++;
    }
  }
  return (concordant - discordant) / Math.sqrt((concordant + discordant + tiedX) * (concordant + discordant + tiedY));
}
