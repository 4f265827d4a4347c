// The config of the PRM commands on step-labelled files and ProcessBench (issue 14):
//
//   repirl prm train --set method=supervised --set data.path=F    a PRM trained on the step labels
//                                                                 of F (TRL stepwise, Math-Shepherd,
//                                                                 PRM800K or ProcessBench records)
//   repirl prm eval --set prm=RUN --set processbench.path=F        the PRM scored on a ProcessBench-
//                                                                 format file with its metrics
//
// `data` of the supervised method is the labelled file (not the problem files of the other
// methods, which learn from the policy's rollouts); `processbench` is the same section in both
// commands (in prm train: judged at the end).
import { DATA_FILE_FORMATS, PROCESSBENCH_THRESHOLD, PRM800K_NEUTRAL, STEP_LABEL_LAYOUTS, supervisedConfigSchema } from '@repirl/prm';
import { U32_MAX, s, type Infer } from '@repirl/rl';


/** `data` of method=supervised: the step-labelled file. */
export function labelledDataSchema() {
  return s.object('the step-labelled file the PRM learns from (JSONL or Parquet)', {
    path: s.string("the file: TRL's stepwise format (prompt, completions, labels), Math-Shepherd (input, label with +/- at the ки tags), PRM800K records, or ProcessBench records", { nonEmpty: true }),
    validation: s.optional(s.string('a held-out file of the same kind (default: prm.validation.fraction of the prompts of path)', { nonEmpty: true })),
    format: s.enum('file format: auto (by extension; a .json file starting with "[" is a JSON array), jsonl, json, parquet', DATA_FILE_FORMATS, { default: 'auto' }),
    layout: s.enum('record layout: auto (from the first record) or one of the layouts', ['auto', ...STEP_LABEL_LAYOUTS], { default: 'auto' }),
    neutral: s.enum("PRM800K: a neutral (0) rating is a wrong step ('negative', TRL's conversion) or a right one ('positive')", PRM800K_NEUTRAL, { default: 'negative' }),
    steps: stepsField(),
  });
}
export type LabelledDataConfig = Infer<ReturnType<typeof labelledDataSchema>>;

/**
 * `labelled` of the offline outcome learners (orm, implicit-offline): a step-labelled file whose
 * solutions replace the rollout set, each labelled by its outcome (correct = every step right).
 */
export function offlineLabelledSchema() {
  return s.object("a step-labelled file whose solutions the offline learner trains on instead of the starting policy's rollouts (outcome = every step right; the steps are written by data.steps)", {
    path: s.optional(s.string("the file (TRL's stepwise format, Math-Shepherd, PRM800K or ProcessBench records); null: learn from rollouts", { nonEmpty: true })),
    format: s.enum('file format: auto (by extension; a .json file starting with "[" is a JSON array), jsonl, json, parquet', DATA_FILE_FORMATS, { default: 'auto' }),
    layout: s.enum('record layout: auto (from the first record) or one of the layouts', ['auto', ...STEP_LABEL_LAYOUTS], { default: 'auto' }),
    neutral: s.enum("PRM800K: a neutral (0) rating is a wrong step ('negative', TRL's conversion) or a right one ('positive')", PRM800K_NEUTRAL, { default: 'negative' }),
  });
}
export type OfflineLabelledConfig = Infer<ReturnType<typeof offlineLabelledSchema>>;

const stepsField = () => s.enum('how the PRM reads the steps: one per line (lines) or blank-line separated paragraphs (as it was trained)', ['lines', 'paragraphs'], { default: 'lines' });

/** `processbench`: ProcessBench-format files scored by the PRM (`steps`: prm eval's own; prm train uses data.steps). */
export function processBenchSchema(doc: string, options: { steps?: boolean } = {}) {
  return s.object(doc, {
    ...(options.steps ? { steps: stepsField() } : {}),
    path: s.optional(s.string('a ProcessBench-format file (id, generator, problem, steps, final_answer_correct, label); its subsets by a subset column or the file name', { nonEmpty: true })),
    validation: s.optional(s.string('a ProcessBench-format file on which the F1-best threshold is chosen (instead of threshold)', { nonEmpty: true })),
    threshold: s.number('a step is predicted wrong when its score is below this (0.5 on step probabilities, as ProcessBench\'s PRM scripts)', { default: PROCESSBENCH_THRESHOLD }),
    format: s.enum('file format: auto (by extension; a .json file starting with "[" is a JSON array), jsonl, json, parquet', DATA_FILE_FORMATS, { default: 'auto' }),
    resamples: s.integer('bootstrap resamples of the intervals (over problems)', { default: 1000, min: 10, max: 100_000 }),
    seed: s.integer('seed of the bootstrap', { default: 0, min: 0, max: U32_MAX }),
  });
}
export type ProcessBenchConfig = Infer<ReturnType<typeof processBenchSchema>> & { steps?: 'lines' | 'paragraphs' };

/** The supervised method's own sections (the command adds the starting policy and the method). */
export const supervisedFields = () => ({
  data: labelledDataSchema(),
  prm: supervisedConfigSchema,
  processbench: processBenchSchema('ProcessBench-format files the trained PRM is scored on at the end (none by default)'),
});

/** The ProcessBench files: inputs that must exist before a run starts (data.path and data.validation are the data section's). */
export const PROCESSBENCH_INPUTS = [{ key: 'processbench.path', kind: 'file' as const }, { key: 'processbench.validation', kind: 'file' as const }];

/** `processbench` of prm eval. */
export const prmEvalProcessBench = () => processBenchSchema('a ProcessBench-format file scored by the PRM instead of held-out policy samples (ProcessBench\'s own solutions; no policy is loaded)', { steps: true });
