// A verifier written by the user: an ES module (.mjs, or .js in an ESM package) exporting
//
//   export function verify(response, problem) { return true | false | { correct, ... } }
//
// `problem` is the Problem record ({ id, prompt, answer, solution?, meta? }). The result is a
// boolean, or an object with a boolean `correct` and optionally `parsedAnswer` (string or null)
// and `reason` (string). Anything else — a missing export, a Promise (the Verifier is synchronous),
// a number, an object without a boolean `correct` — is a VerifierModuleError naming the file
// (and, for a bad result, the problem), never a silent false.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Verifier } from '../rollout/rollout.js';
import type { Verdict } from '../tasks/format.js';
import type { Problem } from '../tasks/task.js';

/** A user verifier module that cannot be loaded or broke its contract; `file` is the module. */
export class VerifierModuleError extends Error {
  constructor(message: string, readonly file: string) {
    super(message);
    this.name = 'VerifierModuleError';
  }
}

/** Imports the module at `path` and returns its `verify` export as a Verifier (see the file comment). */
export async function loadVerifierModule(path: string): Promise<Verifier> {
  const file = resolve(path);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new VerifierModuleError(`verifier module ${path}: cannot import it: ${(err as Error).message}`, path);
  }
  const verify = mod.verify;
  if (typeof verify !== 'function') {
    const names = Object.keys(mod);
    const found = names.length === 0 ? 'it exports nothing' : `its exports are ${names.join(', ')}`;
    throw new VerifierModuleError(
      `verifier module ${path}: ${verify === undefined ? 'has no export named "verify"' : `export "verify" is a ${typeof verify}, not a function`} ` +
        `(${found}); write \`export function verify(response, problem) { return true; }\` returning a boolean or { correct: boolean }`,
      path);
  }
  return (problem: Problem, response: string): Verdict => {
    let result: unknown;
    try {
      result = (verify as (response: string, problem: Problem) => unknown)(response, problem);
    } catch (err) {
      throw new VerifierModuleError(`verifier module ${path}: verify threw on problem ${JSON.stringify(problem.id)}: ${(err as Error).message}`, path);
    }
    return verdictOf(result, path, problem);
  };
}

function verdictOf(result: unknown, path: string, problem: Problem): Verdict {
  const bad = (what: string) => new VerifierModuleError(
    `verifier module ${path}: verify(response, problem) returned ${what} for problem ${JSON.stringify(problem.id)}; ` +
      'it must return true, false or { correct: true | false, parsedAnswer?: string | null, reason?: string }', path);
  if (typeof result === 'boolean') return { correct: result, parsedAnswer: null, reason: `${path}: ${result ? 'correct' : 'wrong'}` };
  if (typeof result !== 'object' || result === null) throw bad(describe(result));
  if (typeof (result as { then?: unknown }).then === 'function') throw bad('a Promise (verify must be synchronous)');
  const r = result as Record<string, unknown>;
  if (typeof r.correct !== 'boolean') throw bad(`an object whose "correct" is ${describe(r.correct)}, not a boolean`);
  if (r.parsedAnswer !== undefined && r.parsedAnswer !== null && typeof r.parsedAnswer !== 'string') {
    throw bad(`an object whose "parsedAnswer" is ${describe(r.parsedAnswer)}, not a string or null`);
  }
  if (r.reason !== undefined && typeof r.reason !== 'string') throw bad(`an object whose "reason" is ${describe(r.reason)}, not a string`);
  return {
    correct: r.correct,
    parsedAnswer: (r.parsedAnswer as string | null | undefined) ?? null,
    reason: (r.reason as string | undefined) ?? `${path}: ${r.correct ? 'correct' : 'wrong'}`,
  };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 39)}…` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `the ${typeof value} ${String(value)}`;
}
