import fs = require('node:fs');
import path = require('node:path');
import { adapterFor } from '../agents/registry';
import { quoted, TaskError, UsageError } from '../model/errors';
import type { AgentId } from '../model/names';
import { AGENT_IDS, isAgentId, nameProblem, sessionName } from '../model/names';
import type { TaskRecord } from '../model/record';
import { newRecord } from '../model/record';
import type { Core } from './core';
import { isoNow } from './core';
import { agentArgs, endAttempt, resolveAgent, writeTaskEnv } from './launch';
import { startOrQueue } from './queue';
import { createWorktree, discardWorktree } from './worktree';

export interface StartInput {
  agent: string;
  name: string;
  dir: string;
  prompt: string;
  /** Run in a git worktree of its own, on a new branch (`branch`, else the prefix and the name). */
  worktree?: boolean;
  branch?: string;
  /** Start now even beyond the queue's limits (a person's explicit word). */
  now?: boolean;
  /** The agent's own TUI in the pane, a person talks to it; the prompt (optional) is its first. */
  interactive?: boolean;
}

/** Linux refuses to exec an argument longer than MAX_ARG_STRLEN (32 pages) minus its NUL. */
export const MAX_PROMPT_BYTES = 128 * 1024 - 1;

/** Checks a start request without creating anything; throws UsageError for bad input. */
export function validateStart(input: StartInput): { agent: AgentId; dir: string } {
  if (input.interactive && isAgentId(input.agent) && !adapterFor(input.agent).interactive) {
    const can = AGENT_IDS.filter((a) => adapterFor(a).interactive).join(', ');
    throw new UsageError(`${adapterFor(input.agent).displayName} cannot run as an interactive task yet (interactive: ${can}): start it without --interactive`);
  }
  if (!isAgentId(input.agent)) {
    throw new UsageError(`unknown agent "${input.agent}": choose one of ${AGENT_IDS.join(', ')}`);
  }
  const problem = nameProblem(input.name);
  if (problem) throw new UsageError(`invalid task name ${quoted(input.name)}: ${problem}`);
  const dir = path.resolve(input.dir);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(dir);
  } catch {
    stat = undefined;
  }
  if (!stat?.isDirectory()) throw new UsageError(`folder not found: ${dir}`);
  // An interactive task may start on an empty prompt: the person types the first one.
  if (!input.interactive || input.prompt !== '') validatePrompt(input.prompt);
  return { agent: input.agent, dir };
}

/** A prompt any agent can be given as one argument; throws UsageError otherwise. */
export function validatePrompt(prompt: string): void {
  if (prompt.trim() === '') throw new UsageError('the prompt is empty');
  // An argv element cannot hold a NUL byte: refuse rather than cut the prompt short.
  if (prompt.includes('\0')) throw new UsageError('the prompt contains a NUL byte, which no program can receive as an argument');
  const bytes = Buffer.byteLength(prompt);
  if (bytes > MAX_PROMPT_BYTES) {
    throw new UsageError(`the prompt is ${bytes} bytes; one argument can hold at most ${MAX_PROMPT_BYTES} (put the details in a file and refer to it)`);
  }
}

/** A new task: its record, then its session with the first attempt (or its place in the queue); nothing half-made on failure. */
export async function startTask(core: Core, input: StartInput): Promise<TaskRecord> {
  const { agent, dir: given } = validateStart(input);
  if (input.branch !== undefined && !input.worktree) throw new UsageError('--branch names the branch of a worktree: give --worktree too');
  const session = sessionName(agent, input.name);
  const executable = resolveAgent(core, agent);
  core.tmux.requireInstalled(); // tmux missing: one clear TmuxError before anything is made
  core.store.init();
  const lock = core.locks.tryAcquire(session);
  if (!lock) throw new TaskError(`task ${session} is being started or changed by another process`, 'conflict');
  try {
    if (core.store.exists(session)) {
      throw new TaskError(`a task named ${session} already exists (use another name, or "kill ${session} --forget" first)`, 'conflict');
    }
    if (await core.tmux.hasSession(session)) {
      throw new TaskError(`a tmux session named ${session} already exists`, 'conflict');
    }
    const made = input.worktree ? await createWorktree(core, given, session, input.name, input.branch) : undefined;
    const dir = made?.dir ?? given;
    try {
      const prepared = adapterFor(agent).prepare({ dir, taskDir: core.store.paths.taskDir(session), env: core.env });
      const record = newRecord({
        name: input.name, agent, dir, prompt: input.prompt, now: isoNow(core),
        agentSessionId: prepared.agentSessionId, agentData: prepared.agentData,
        agentArgs: agentArgs(core, agent), executable, policy: core.policy, worktree: made?.worktree,
        mode: input.interactive ? 'interactive' : 'unattended',
      });
      writeTaskEnv(core, session);
      // Launched now when this machine has a slot for it, else queued for the supervisor.
      return await startOrQueue(core, { record, cause: 'start', now: input.now, sessionExists: false });
    } catch (e) {
      // Nothing half-made: no record without a session, no session without a record, no
      // worktree or branch of a task that did not start. A tmux call past its deadline may have
      // started the agent all the same (the server made the session, its client never said so):
      // one that ignores the session's SIGHUP is ended too, never left running with no record.
      await core.tmux.killSession(session).catch(() => undefined);
      await endAttempt(core, session, 1).catch(() => undefined);
      core.store.remove(session);
      if (made) await discardWorktree(core, made.worktree);
      throw e;
    }
  } finally {
    lock.release();
  }
}
