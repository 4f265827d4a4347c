// Config pieces the commands add around the trainers' schemas: the task, and how many held-out
// problems validation generates.
import { didYouMean, extend, getTask, resolveDifficulty, s, taskNames, type Fields, type Issue, type ObjectSchema } from '@repirl/rl';

export function taskSchema() {
  return s.object(
    'the task family and its difficulty (`repirl tasks` lists both)',
    {
      name: s.string('task family (`repirl tasks`)', { default: 'arith-chain', nonEmpty: true }),
      difficulty: s.record("difficulty knobs by name; knobs left out take the task's defaults", s.integer('knob value'), { default: {} }),
    },
    { check: checkTask },
  );
}

function checkTask(task: { name: string; difficulty: Record<string, number> }): Issue[] {
  const names = taskNames();
  if (!names.includes(task.name)) {
    return [{ path: 'name', message: `${JSON.stringify(task.name)} is not a known task${didYouMean(task.name, names)}; known tasks: ${names.join(', ')}` }];
  }
  const { knobs } = getTask(task.name);
  const issues: Issue[] = [];
  for (const [key, value] of Object.entries(task.difficulty)) {
    const knob = knobs.find((k) => k.name === key);
    if (knob === undefined) {
      const known = knobs.map((k) => k.name);
      issues.push({ path: `difficulty.${key}`, message: `unknown difficulty knob of ${task.name}${didYouMean(key, known)}; its knobs: ${known.join(', ')}` });
    } else if (value < knob.min || value > knob.max) {
      issues.push({ path: `difficulty.${key}`, message: `${value} is out of range: must be an integer in [${knob.min}, ${knob.max}] (${knob.doc})` });
    }
  }
  return issues;
}

/** The task's full difficulty (defaults filled in), so a resolved config says exactly what ran. */
export function fillDifficulty<C extends { task: { name: string; difficulty: Record<string, number> } }>(config: C): C {
  const difficulty = resolveDifficulty(config.task.name, getTask(config.task.name).knobs, config.task.difficulty);
  return { ...config, task: { ...config.task, difficulty } };
}

/** The validation section of a trainer, with the number of held-out problems the command generates. */
export function withValidationProblems<F extends Fields>(validation: ObjectSchema<F>, problems: number) {
  return extend(validation, { problems: s.integer('held-out validation problems (a seed disjoint from training)', { default: problems, min: 1 }) });
}

// ---------------------------------------------------------------------------------------------
// Where the policy starts (docs/config.md "Starting policy"): a repirl checkpoint (`init`, or
// `checkpoint` for eval), or a Hugging Face model directory (`model=DIR`), and how problems become
// prompt tokens (`template`).

export const TEMPLATES = ['auto', 'chat', 'raw'] as const;
export type TemplateChoice = (typeof TEMPLATES)[number];

/** `model` as a Hugging Face model directory. */
export function hfModelField(doc = 'a Hugging Face model directory (config.json, model.safetensors or its index, tokenizer.json): the policy, its reference and the PRM backbone start from its weights, and text is tokenized with its tokenizer') {
  return s.string(doc, { nonEmpty: true });
}

export function templateField() {
  return s.enum(
    "how a problem becomes prompt tokens: 'chat' renders it as one user message through the model's chat template (with the generation prompt), 'raw' tokenizes the text as it is; 'auto': chat when the tokenizer has a chat template (never for the byte-level toy models). A checkpoint keeps the choice it was trained with",
    TEMPLATES,
    { default: 'auto' },
  );
}

/**
 * The rule of commands that start from `init` (a repirl checkpoint) or `model` (a Hugging Face
 * directory): exactly one of them.
 */
export function checkOneStart(initKey: string) {
  return (c: Record<string, unknown>): Issue[] => {
    const init = c[initKey] ?? null;
    const model = c.model ?? null;
    if (init === null && model === null) {
      return [{ path: initKey, message: `is required: the starting policy is ${initKey}=CHECKPOINT (a repirl run or checkpoint directory) or model=DIR (a Hugging Face model directory)` }];
    }
    if (init !== null && model !== null) {
      return [{
        path: 'model',
        message: `and ${initKey} both say where the policy starts: ${initKey}=CHECKPOINT continues a repirl checkpoint (its architecture and tokenizer are recorded in it), model=DIR starts from a Hugging Face model's weights; give one`,
      }];
    }
    return [];
  };
}
