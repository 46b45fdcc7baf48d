import * as vscode from 'vscode';
import type { TaskView } from '../core/tasks/service';
import type { TaskState } from '../core/tasks/record';

/** How each state looks: a themed icon and colour, and the group it sits in. */
export const STATE_LOOK: Record<TaskState, { icon: string; color: string; group: 'needs' | 'running' | 'finished' }> = {
  waiting: { icon: 'bell-dot', color: 'list.warningForeground', group: 'needs' },
  held: { icon: 'debug-pause', color: 'list.warningForeground', group: 'needs' },
  'gave-up': { icon: 'circle-slash', color: 'list.errorForeground', group: 'needs' },
  running: { icon: 'sync~spin', color: 'charts.blue', group: 'running' },
  resuming: { icon: 'history', color: 'charts.orange', group: 'running' },
  failed: { icon: 'error', color: 'list.errorForeground', group: 'running' },
  lost: { icon: 'debug-disconnect', color: 'list.warningForeground', group: 'running' },
  done: { icon: 'pass', color: 'testing.iconPassed', group: 'finished' },
};

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60 ? ` ${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d`;
}

/** `codex · running 12m`, `resuming in 6m · attempt 2/10`, `done 1h ago`, … */
export function describe(v: TaskView, now: number, maxAttempts?: number): string {
  const since = (iso: string | null | undefined) => (iso ? duration(now - Date.parse(iso)) : '');
  const attempt = v.attempts.length;
  const of = maxAttempts ? `/${maxAttempts}` : '';
  const last = v.attempts[attempt - 1];
  switch (v.state) {
    case 'running':
      return `${v.agent} · running ${since(last?.startedAt ?? v.createdAt)}${attempt > 1 ? ` · attempt ${attempt}${of}` : ''}`;
    case 'waiting':
      return `${v.agent} · waiting for input`;
    case 'resuming':
      return v.nextAttemptAt
        ? `${v.agent} · resuming in ${duration(Date.parse(v.nextAttemptAt) - now)} · attempt ${attempt + 1}${of}`
        : `${v.agent} · resuming · attempt ${attempt}${of}`;
    case 'done': {
      const ago = last?.endedAt ? now - Date.parse(last.endedAt) : undefined;
      return `${v.agent} · done${ago === undefined ? '' : ago < 10_000 ? ' just now' : ` ${duration(ago)} ago`}`;
    }
    case 'failed':
      return `${v.agent} · failed${v.adopted ? ' (started by hand)' : ''}`;
    case 'lost':
      return `${v.agent} · lost (tmux session gone)`;
    case 'held':
      return `${v.agent} · held${v.reason ? ` · ${v.reason}` : ''}`;
    case 'gave-up':
      return `${v.agent} · gave up · ${attempt} attempt${attempt === 1 ? '' : 's'}`;
  }
}

export function tooltip(v: TaskView): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${v.session}** — ${v.state}${v.adopted ? ' (started by hand)' : ''}\n\n`);
  if (v.reason) md.appendMarkdown(`${escape(v.reason)}\n\n`);
  if (v.prompt) md.appendMarkdown(`Prompt: ${escape(v.prompt.length > 300 ? `${v.prompt.slice(0, 300)}…` : v.prompt)}\n\n`);
  if (v.dir) md.appendMarkdown(`Folder: \`${v.dir}\`\n\n`);
  md.appendMarkdown(`Agent session id: ${v.agentSessionId ? `\`${v.agentSessionId}\`` : 'unknown'}\n\n`);
  for (const a of v.attempts) {
    const end = a.endedAt ? `ended ${new Date(a.endedAt).toLocaleString()}, ${a.signal !== null ? `signal ${a.signal}` : `exit ${a.exitCode}`}` : 'running';
    md.appendMarkdown(`- attempt ${a.n} (${a.cause}${a.mode === 'resume' ? ', resumed by id' : ''}): ${new Date(a.startedAt).toLocaleString()}, ${end}${a.note ? ` — ${escape(a.note)}` : ''}\n`);
  }
  return md;
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

/** `contextValue` tokens matched by `when` clauses with regular expressions. */
export function contextValue(v: TaskView): string {
  const parts = ['task', `state=${v.state}`, v.adopted ? 'adopted' : 'managed'];
  if (v.hasSession) parts.push('live');
  if (['failed', 'lost', 'held', 'gave-up'].includes(v.state)) parts.push('resumable');
  if (v.agentSessionId) parts.push('hasId');
  if (v.eventsFile) parts.push('hasEvents');
  return parts.join(':');
}
