import type { AgentAdapter } from './types';
import { genericHeldSignal, parseJsonLines, withPrompt } from './types';

/**
 * OpenCode. `--dir` is required (it takes its folder from $PWD, and a resume from elsewhere never
 * exits). Every JSON event carries `sessionID`, from the first streamed model output on.
 */
export const opencode: AgentAdapter = {
  id: 'opencode',
  displayName: 'OpenCode',
  defaultModeArgs: ['--auto'],
  prepare: () => ({ agentSessionId: null, agentData: {} }),
  startArgs: (task, s, prompt) =>
    withPrompt(['run', '--dir', task.dir, '--format', 'json', ...s.modeArgs, ...s.extraArgs], prompt.text),
  resumeArgs: (task, s, prompt) =>
    withPrompt(
      ['run', '--dir', task.dir, '--session', task.agentSessionId ?? '', '--format', 'json', ...s.modeArgs, ...s.extraArgs],
      prompt.text,
    ),
  sessionIdFromEvents(lines) {
    for (const e of parseJsonLines(lines.slice(0, 200))) {
      const id = (e as { sessionID?: unknown }).sessionID;
      if (typeof id === 'string' && id) return id;
    }
    return undefined;
  },
  canResume: (task) =>
    task.agentSessionId ? { ok: true } : { ok: false, why: 'OpenCode had not reported a session id' },
  waitingPatterns: [/Permission required/i, /\bAllow (once|always)\b/i],
  heldSignal: (events, pane) => genericHeldSignal(events, pane),
};
