// Ranks with ties, shared by AUROC (Mann–Whitney U) and Spearman's correlation.

/** Throws unless every value is a finite number (NaN and ±Infinity are rejected). */
export function checkFinite(fn: string, name: string, values: readonly number[]): void {
  values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${fn}: ${name}[${i}] must be a finite number, got ${v}`);
  });
}

/**
 * 1-based ranks of `values` in ascending order; tied values all get the average of the ranks they
 * span (e.g. [10, 20, 20, 30] → [1, 2.5, 2.5, 4]).
 */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Array<number>(values.length);
  let start = 0;
  while (start < order.length) {
    let end = start + 1; // [start, end) is one run of equal values
    while (end < order.length && values[order[end]!] === values[order[start]!]) end++;
    const rank = (start + 1 + end) / 2; // the mean of ranks start+1 … end
    for (let k = start; k < end; k++) ranks[order[k]!] = rank;
    start = end;
  }
  return ranks;
}
