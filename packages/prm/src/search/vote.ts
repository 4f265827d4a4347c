// Answer voting over N sampled responses (self-consistency), plain and PRM-weighted.
//
// Answers are grouped with `answersMatch` from @repirl/rl (so "1,000" and "1000" are one group);
// each group is named by its first member's text. A null answer (no `#### <answer>` line) casts no
// vote. Ties between groups go to the group whose first member comes earliest in the input, so the
// result is deterministic given the order (bestOfNAccuracy feeds random orders, which averages
// ties out).
import { answersMatch } from '@repirl/rl';
import { checkFinite } from '../eval/ranks.js';

export interface AnswerGroup {
  /** The group's answer: the text of its first member. */
  answer: string;
  /** Indices into the input, in input order. */
  members: number[];
}

/** Groups the non-null answers; groups are in order of first appearance. */
export function groupAnswers(answers: readonly (string | null)[]): AnswerGroup[] {
  const groups: AnswerGroup[] = [];
  answers.forEach((answer, i) => {
    if (answer === null) return;
    if (typeof answer !== 'string') throw new Error(`groupAnswers: answers[${i}] must be a string or null, got ${String(answer)}`);
    const group = groups.find((g) => answersMatch(g.answer, answer));
    if (group === undefined) groups.push({ answer, members: [i] });
    else group.members.push(i);
  });
  return groups;
}

export interface VoteResult {
  /** The winning answer, or null when no answer was given at all. */
  answer: string | null;
  /** The winner's vote total (count for majority, transformed weight sum for weighted). */
  total: number;
  groups: (AnswerGroup & { total: number })[];
}

/** Majority vote: the most frequent answer; ties → the group seen first. */
export function majorityVote(answers: readonly (string | null)[]): VoteResult {
  const groups = groupAnswers(answers).map((g) => ({ ...g, total: g.members.length }));
  return pickWinner(groups);
}

export type WeightTransform = 'raw' | 'exp' | 'sigmoid';

/**
 * Weighted vote: group total = Σ_{i in group} g(w_i) with g = identity ('raw'), exp ('exp') or the
 * logistic sigmoid ('sigmoid'); the group with the largest total wins (ties → the group seen
 * first) and `bestMember` is its member with the largest weight (first on ties). rePIRL's
 * test-time scaling is transform 'exp' with w_i = the response's mean token score.
 *
 * `temperature` τ (default 1) divides every weight first: g(w_i / τ). With 'exp' this is the
 * softmax-style vote Σ exp(w_i / τ): τ → 0 approaches the argmax of w, τ → ∞ majority vote
 * (τ = Infinity is allowed: every voter then weighs exp(0) = 1, exactly majority vote). Issue 15's `weighted/official` and `weighted/step-mean` are 'exp' with
 * τ chosen on validation problems (search/best-of-n.ts, tunedWeightedVoteAccuracy).
 *
 * For 'exp' the totals are computed as Σ exp(w_i/τ − w_max/τ) (w_max over all voters) so large
 * weights cannot overflow; the common factor exp(w_max/τ) does not change the winner, and the
 * reported totals are these scaled sums.
 */
export function weightedVote(
  answers: readonly (string | null)[],
  weights: readonly number[],
  options: { transform: WeightTransform; temperature?: number },
): VoteResult & { bestMember: number } {
  if (answers.length !== weights.length) {
    throw new Error(`weightedVote: ${answers.length} answers but ${weights.length} weights; they must be parallel`);
  }
  const { transform } = options;
  if (transform !== 'raw' && transform !== 'exp' && transform !== 'sigmoid') {
    throw new Error(`weightedVote: unknown transform "${String(transform)}"; use raw, exp or sigmoid`);
  }
  const tau = options.temperature ?? 1;
  if (!(tau > 0)) throw new Error(`weightedVote: temperature must be > 0, got ${tau}`);
  checkFinite('weightedVote', 'weights', weights);
  const voters = answers.flatMap((a, i) => (a === null ? [] : [weights[i]! / tau]));
  const shift = transform === 'exp' && voters.length > 0 ? voters.reduce((m, v) => Math.max(m, v), -Infinity) : 0;
  const g = (weight: number): number => {
    const w = weight / tau;
    return transform === 'raw' ? w : transform === 'exp' ? Math.exp(w - shift) : 1 / (1 + Math.exp(-w));
  };
  const groups = groupAnswers(answers).map((grp) => ({
    ...grp,
    total: grp.members.reduce((sum, i) => sum + g(weights[i]!), 0),
  }));
  const winner = pickWinner(groups);
  let bestMember = -1;
  const winningGroup = groups.find((grp) => grp.answer === winner.answer && grp.total === winner.total);
  for (const i of winningGroup?.members ?? []) {
    if (bestMember === -1 || weights[i]! > weights[bestMember]!) bestMember = i;
  }
  return { ...winner, bestMember };
}

function pickWinner(groups: (AnswerGroup & { total: number })[]): VoteResult {
  let best: (AnswerGroup & { total: number }) | null = null;
  for (const grp of groups) {
    if (best === null || grp.total > best.total) best = grp; // strict: ties keep the earlier group
  }
  return { answer: best === null ? null : best.answer, total: best === null ? 0 : best.total, groups };
}
