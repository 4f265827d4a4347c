// The named task families. Built-ins are always present; registerTask adds a user's own family
// (e.g. from a CLI plugin) under a new name.
import { addCarry } from './add-carry.js';
import { arithChain } from './arith-chain.js';
import type { Task } from './task.js';

const tasks = new Map<string, Task>([
  [arithChain.name, arithChain],
  [addCarry.name, addCarry],
]);

export function registerTask(task: Task): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(task.name)) {
    throw new Error(`registerTask: name ${JSON.stringify(task.name)} must be lowercase letters, digits and '-'`);
  }
  if (tasks.has(task.name)) throw new Error(`registerTask: a task named "${task.name}" is already registered; pick another name`);
  tasks.set(task.name, task);
}

export function getTask(name: string): Task {
  const task = tasks.get(name);
  if (task === undefined) throw new Error(`unknown task "${name}"; known tasks: ${taskNames().join(', ')}`);
  return task;
}

export function taskNames(): string[] {
  return [...tasks.keys()];
}
