import vscode = require('vscode');
import { adapterFor } from '../core/agents/registry';
import type { TaskView } from '../core/model/views';
import { duration } from '../core/model/time';
import type { TaskState } from '../core/model/record';
import { exitText, isStopped } from '../core/model/record';
import { usageText } from '../core/model/usage';
import { heldByAgent, scheduledTry } from '../core/model/holds';

/** How each state looks: a themed icon and colour, and the group it sits in. */
export const STATE_LOOK: Record<TaskState, { icon: string; color: string; group: 'needs' | 'running' | 'queued' | 'finished' }> = {
  waiting: { icon: 'bell-dot', color: 'list.warningForeground', group: 'needs' },
  // An interactive agent whose turn is over: the person's move, but nothing asks (not a "needs you").
  idle: { icon: 'comment-discussion', color: 'charts.green', group: 'running' },
  held: { icon: 'debug-pause', color: 'list.warningForeground', group: 'needs' },
  'gave-up': { icon: 'circle-slash', color: 'list.errorForeground', group: 'needs' },
  running: { icon: 'sync~spin', color: 'charts.blue', group: 'running' },
  resuming: { icon: 'history', color: 'charts.orange', group: 'running' },
  failed: { icon: 'error', color: 'list.errorForeground', group: 'running' },
  lost: { icon: 'debug-disconnect', color: 'list.warningForeground', group: 'running' },
  done: { icon: 'pass', color: 'testing.iconPassed', group: 'finished' },
  queued: { icon: 'clock', color: 'descriptionForeground', group: 'queued' },
};

/** `codex · running 12m`, `resuming in 6m · attempt 2/10`, `done 1h ago`, … */
export function describe(v: TaskView, now: number, maxAttempts?: number): string {
  const here = describeHere(v, now, maxAttempts);
  return v.host ? `${here} · on ${v.host}` : here;
}

function describeHere(v: TaskView, now: number, maxAttempts?: number): string {
  const since = (iso: string | null | undefined) => (iso ? duration(now - Date.parse(iso)) : '');
  const attempt = v.attempts.length;
  const of = maxAttempts ? `/${maxAttempts}` : '';
  const last = v.attempts[attempt - 1];
  switch (v.state) {
    case 'running':
      return `${v.agent} · running ${since(last?.startedAt ?? v.createdAt)}${v.reason?.startsWith('retrying') ? ` · ${v.reason}` : ''}${attempt > 1 ? ` · attempt ${attempt}${of}` : ''}`;
    case 'waiting':
      return `waiting for you · ${v.agent}${v.reason?.startsWith('waits for you: ') ? ` · ${v.reason.slice('waits for you: '.length)}` : ''}`;
    case 'idle':
      return `${v.agent} · idle, your move ${since(v.recorded?.since ?? last?.startedAt)}`;
    case 'resuming':
      return v.nextAttemptAt
        ? `${v.agent} · resuming in ${duration(Date.parse(v.nextAttemptAt) - now)} · attempt ${attempt + 1}${of}`
        : `${v.agent} · resuming · attempt ${attempt}${of}`;
    case 'done': {
      const ago = last?.endedAt ? now - Date.parse(last.endedAt) : undefined;
      return `${v.agent} · done${ago === undefined ? '' : ago < 10_000 ? ' just now' : ` ${duration(ago)} ago`}`;
    }
    case 'failed':
      return v.adopted ? `failed, resume by hand · ${v.agent}` : `${v.agent} · failed`;
    case 'lost':
      return `${v.agent} · lost (tmux session gone)`;
    case 'held':
      // What a person needs to know first; the reason in full is in the tooltip.
      return `${heldOutcome(v, now)} · ${v.agent}`;
    case 'gave-up':
      return `gave up after ${attempt} attempt${attempt === 1 ? '' : 's'} · ${v.agent}`;
    case 'queued':
      return `${v.queue ? `${v.queue.place}. ` : ''}${v.agent} · ${(v.reason ?? 'queued').replace(/^queued: /, 'queued · ')}`;
  }
}

/** Held by the person's own stop (kill, Ctrl-C, the session closed by hand). */
export function stoppedByUser(v: TaskView): boolean {
  return v.state === 'held' && /^(killed|stopped) by the user/.test(v.reason ?? '');
}

/** A hold that ends by itself: a usage limit with a reset time. */
export function resolvesItself(v: TaskView): boolean {
  return v.state === 'held' && (v.heldUntil !== null || heldByAgent(v));
}

/** What needs a person now: a question, a sign-in, a spent budget, a session nobody else can resume. */
export function needsYou(v: TaskView): boolean {
  if (v.state === 'waiting' || v.state === 'gave-up') return true;
  if (v.state === 'held') return !stoppedByUser(v) && !resolvesItself(v);
  return v.state === 'failed' && v.adopted;
}

/** `sign in needed`, `resets 14:30`, `usage limit`, `stopped by you` … */
export function heldOutcome(v: TaskView, now: number): string {
  const reason = v.reason ?? '';
  if (stoppedByUser(v)) return 'stopped by you';
  if (heldByAgent(v)) return `the agent waits for its usage limit${v.heldUntil ? ` · ${Date.parse(v.heldUntil) > now ? 'resets' : 'should have reset'} ${clock(v.heldUntil, now)}` : ''}`;
  if (scheduledTry(v) && v.heldUntil) return `usage limit · next try ${clock(v.heldUntil, now)}`;
  if (v.heldUntil) return `resets ${clock(v.heldUntil, now)}`;
  if (/^authentication failed/.test(reason)) return 'sign in needed';
  if (/usage limit/i.test(reason)) return 'usage limit';
  if (/newer resilient-agent/.test(reason)) return 'needs a newer version';
  return 'held';
}

/** 14:30 today, or Tue 14:30 within a week, or the date. */
export function clock(iso: string, now: number): string {
  const at = new Date(iso);
  const time = at.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (at.toDateString() === new Date(now).toDateString()) return time;
  if (Math.abs(at.getTime() - now) < 6 * 86_400_000) return `${at.toLocaleDateString(undefined, { weekday: 'short' })} ${time}`;
  return `${at.toLocaleDateString()} ${time}`;
}

const STATE_LABEL: Record<TaskState, string> = {
  running: 'running', waiting: 'waiting for you', idle: 'idle, your move', done: 'done', failed: 'failed', lost: 'lost', resuming: 'resuming', held: 'held', 'gave-up': 'gave up', queued: 'queued',
};

export function tooltip(v: TaskView, now = Date.now()): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${v.name}** (${v.agent}) — ${STATE_LABEL[v.state]}${v.adopted ? ' (started by hand)' : ''}\n\n`);
  if (v.reason) md.appendMarkdown(`${escape(v.reason)}\n\n`);
  if (heldByAgent(v)) md.appendMarkdown(`The agent waits out its usage limit by itself${v.heldUntil ? ` (it resets ${escape(clock(v.heldUntil, now))})` : ''}; resumed only if it dies or gives up.\n\n`);
  else if (v.heldUntil) md.appendMarkdown(`${scheduledTry(v) ? 'Next try' : 'Held until'} ${escape(clock(v.heldUntil, now))}, then resumed by itself.\n\n`);
  const signIn = adapterFor(v.agent).signIn;
  if (v.state === 'held' && /^authentication failed/.test(v.reason ?? '') && signIn) {
    md.appendMarkdown(`To fix: sign in (${escape(signIn)}), then Resume now.\n\n`);
  }
  if (v.nextAttemptAt) md.appendMarkdown(`Next try: ${escape(clock(v.nextAttemptAt, now))}.\n\n`);
  const first = v.attempts[0];
  if (first) {
    const end = v.attempts[v.attempts.length - 1].endedAt;
    md.appendMarkdown(`Run time: ${duration((end ? Date.parse(end) : now) - Date.parse(first.startedAt))} over ${v.attempts.length} attempt${v.attempts.length === 1 ? '' : 's'}.\n\n`);
  }
  if (v.lastMessage) {
    const said = v.lastMessage.length > 400 ? `${v.lastMessage.slice(0, 400)}…` : v.lastMessage;
    md.appendMarkdown(`${v.state === 'running' || v.state === 'waiting' ? 'Latest' : 'Last'} from the agent: ${escape(said).replace(/\n/g, '  \n')}\n\n`);
  }
  if (v.usage) md.appendMarkdown(`Tokens: ${escape(usageText(v.usage))}\n\n`);
  if (v.prompt) md.appendMarkdown(`Prompt: ${escape(v.prompt.length > 300 ? `${v.prompt.slice(0, 300)}…` : v.prompt)}\n\n`);
  if (v.worktree) md.appendMarkdown(`Worktree: branch \`${v.worktree.branch}\` from \`${v.worktree.base.slice(0, 12)}\` of \`${v.worktree.repo}\`\n\n`);
  if (v.dir) md.appendMarkdown(`Folder: \`${v.dir}\`\n\n`);
  md.appendMarkdown(`Agent session id: ${v.agentSessionId ? `\`${v.agentSessionId}\`` : 'unknown'}\n\n`);
  for (const a of v.attempts) {
    const end = a.endedAt ? `to ${clock(a.endedAt, now)}, ${exitText(a)}` : 'running';
    md.appendMarkdown(`- attempt ${a.n} (${a.cause}${a.mode === 'resume' ? ', resumed by id' : ''}): ${clock(a.startedAt, now)} ${end}${a.note ? ` — ${escape(a.note)}` : ''}\n`);
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
  // The agent runs (or is about to): input can be sent, and it can be killed.
  if (v.hasSession && (['running', 'waiting', 'idle', 'resuming'].includes(v.state) || heldByAgent(v))) parts.push('agentRuns');
  // Resume by exact id needs an id: a hand-started session without one cannot be resumed from here.
  if (isStopped(v.state) && !heldByAgent(v) && (!v.adopted || v.agentSessionId) && !/newer resilient-agent/.test(v.reason ?? '')) parts.push('resumable');
  if (v.dir) parts.push('hasDir');
  if (v.prompt) parts.push('hasPrompt');
  if (v.agentSessionId) parts.push('hasId');
  if (v.eventsFile) parts.push('hasEvents');
  if (v.worktree) parts.push('hasWorktree');
  if (v.state === 'queued') parts.push('queued');
  // A new prompt in the same conversation: a stopped task of ours whose agent session is known.
  if ((isStopped(v.state) || v.state === 'done') && !heldByAgent(v) && !v.adopted && v.agentSessionId) parts.push('canFollowUp');
  return parts.join(':');
}
