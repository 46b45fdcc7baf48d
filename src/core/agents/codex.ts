import type { AgentAdapter } from './types';
import { genericHeldSignal, parseJsonLines, withPrompt } from './types';

/**
 * OpenAI Codex CLI. `codex exec --json` prints `{"type":"thread.started","thread_id":…}` as its
 * first line, before any model call; `codex exec resume <thread_id> <prompt>` continues it.
 * `--full-auto` no longer exists; exec never asks for approval.
 */
export const codex: AgentAdapter = {
  id: 'codex',
  displayName: 'Codex',
  defaultModeArgs: ['-s', 'workspace-write'],
  prepare: () => ({ agentSessionId: null, agentData: {} }),
  startArgs: (task, s, prompt) =>
    withPrompt(['exec', '--json', ...s.modeArgs, '--skip-git-repo-check', '-C', task.dir, ...s.extraArgs], prompt.text),
  // `exec resume` refuses -s and -C: they go on `exec`, before `resume` (checked on codex-cli 0.169.0).
  resumeArgs: (task, s, prompt) => [
    'exec', '--json', ...s.modeArgs, '--skip-git-repo-check', '-C', task.dir, ...s.extraArgs,
    'resume', task.agentSessionId ?? '', '--', prompt.text,
  ],
  sessionIdFromEvents(lines) {
    for (const e of parseJsonLines(lines.slice(0, 20))) {
      const ev = e as { type?: unknown; thread_id?: unknown };
      if (ev.type === 'thread.started' && typeof ev.thread_id === 'string' && ev.thread_id) return ev.thread_id;
    }
    return undefined;
  },
  canResume: (task) =>
    task.agentSessionId ? { ok: true } : { ok: false, why: 'codex had not reported a thread id' },
  waitingPatterns: [/^\s*Allow command\?/m, /Approve this (command|change)\?/i],
  heldSignal: (events, pane) => genericHeldSignal(events, pane),
  seedSessionIdFile: (taskName) => `/tmp/codex-${taskName}.codex-session-id`,
};
