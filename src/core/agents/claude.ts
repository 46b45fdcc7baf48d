import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AgentAdapter } from './types';
import { genericHeldSignal, parseJsonLines, withPrompt } from './types';

/** Where Claude Code keeps a session's transcript: `<config>/projects/<cwd, non-alphanumerics as ->/<id>.jsonl`. */
export function claudeTranscript(configDir: string, dir: string, id: string): string {
  return path.join(configDir, 'projects', dir.replace(/[^a-zA-Z0-9]/g, '-'), `${id}.jsonl`);
}

/**
 * Claude Code. The id is minted here and given with `--session-id`; resume is `--resume <id>`
 * run in the original folder (elsewhere: "No conversation found"). A bare `--resume` opens an
 * interactive picker and would hang the pane: never used.
 */
export const claude: AgentAdapter = {
  id: 'claude',
  displayName: 'Claude Code',
  defaultModeArgs: ['--dangerously-skip-permissions'],
  prepare: ({ env }) => ({
    agentSessionId: randomUUID(),
    agentData: { configDir: env.CLAUDE_CONFIG_DIR || path.join(env.HOME || os.homedir(), '.claude') },
  }),
  startArgs: (task, s, prompt) =>
    withPrompt(
      ['-p', '--output-format', 'stream-json', '--verbose', '--session-id', task.agentSessionId ?? '', ...s.modeArgs, ...s.extraArgs],
      prompt.text,
    ),
  resumeArgs: (task, s, prompt) =>
    withPrompt(
      ['-p', '--resume', task.agentSessionId ?? '', '--output-format', 'stream-json', '--verbose', ...s.modeArgs, ...s.extraArgs],
      prompt.text,
    ),
  sessionIdFromEvents(lines) {
    for (const e of parseJsonLines(lines.slice(0, 20))) {
      const ev = e as { type?: unknown; session_id?: unknown };
      if (ev.type === 'system' && typeof ev.session_id === 'string' && ev.session_id) return ev.session_id;
    }
    return undefined;
  },
  canResume(task) {
    if (!task.agentSessionId) return { ok: false, why: 'no session id' };
    const configDir = task.agentData.configDir;
    if (configDir && !fs.existsSync(claudeTranscript(configDir, task.dir, task.agentSessionId))) {
      return { ok: false, why: 'Claude Code had not saved the session yet' };
    }
    return { ok: true };
  },
  waitingPatterns: [/Do you want to (proceed|make this edit|create)/i, /Do you trust the files in this folder\?/i],
  heldSignal: (events, pane) => genericHeldSignal(events, pane),
};
