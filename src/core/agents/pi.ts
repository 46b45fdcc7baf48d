import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AgentAdapter, TaskPrompt } from './types';
import { genericHeldSignal, parseJsonLines } from './types';

/**
 * Pi has no end-of-options marker (`--` is "Unknown option"), so a prompt that starts with "-"
 * would be read as a flag: that one is given as an @file holding the prompt, byte for byte.
 */
function piPrompt(prompt: TaskPrompt): string {
  return prompt.text.startsWith('-') ? `@${prompt.file}` : prompt.text;
}

/**
 * Pi. Its session file is chosen up front with `--session <path>`; pi writes it only once the first
 * assistant message completes, so a pi task killed during its first reply has nothing to resume
 * and is started again from its prompt. Resume runs in the original folder.
 */
export const pi: AgentAdapter = {
  id: 'pi',
  displayName: 'Pi',
  defaultModeArgs: [],
  prepare: ({ taskDir }) => ({ agentSessionId: null, agentData: { sessionFile: path.join(taskDir, 'pi-session.jsonl') } }),
  startArgs: (task, s, prompt) =>
    ['-p', '--mode', 'json', '--session', task.agentData.sessionFile ?? '', ...s.modeArgs, ...s.extraArgs, piPrompt(prompt)],
  resumeArgs: (task, s, prompt) =>
    ['-p', '--mode', 'json', '--session', task.agentData.sessionFile ?? '', ...s.modeArgs, ...s.extraArgs, piPrompt(prompt)],
  sessionIdFromEvents(lines) {
    for (const e of parseJsonLines(lines.slice(0, 5))) {
      const ev = e as { type?: unknown; id?: unknown };
      if (ev.type === 'session' && typeof ev.id === 'string' && ev.id) return ev.id;
    }
    return undefined;
  },
  canResume(task) {
    const file = task.agentData.sessionFile;
    if (file && fs.existsSync(file)) return { ok: true };
    return { ok: false, why: 'pi had not saved its session (killed during its first reply)' };
  },
  waitingPatterns: [],
  heldSignal: (events, pane) => genericHeldSignal(events, pane),
};
