import type { AgentAdapter } from '../agents/types';
import type { TaskState } from '../model/record';
import type { PaneInfo } from '../tmux/commands';
import { DONE_MARKER, waitingSeen } from './classify';

/** Drops blank screen rows at the end, and those between the output and tmux's "Pane is dead" line. */
export function trimPadding(lines: string[]): string[] {
  const out = [...lines];
  while (out.length && out[out.length - 1].trim() === '') out.pop();
  const last = out[out.length - 1];
  if (last !== undefined && /^Pane is dead/.test(last)) {
    out.pop();
    while (out.length && out[out.length - 1].trim() === '') out.pop();
    out.push('', last);
  }
  return out;
}

/** The seed's pane rules, the only signal a session started by hand gives. */
export function classifyAdopted(adapter: AgentAdapter, pane: PaneInfo, tail: readonly string[]): { state: TaskState; reason: string | null } {
  const lines = tail.map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  const last = lines[lines.length - 1] ?? '';
  if (lines.some((l) => l.trim() === DONE_MARKER) && !pane.dead) {
    const markerAt = lines.map((l) => l.trim()).lastIndexOf(DONE_MARKER);
    if (markerAt >= lines.length - 3) return { state: 'done', reason: 'done marker seen' };
  }
  if (pane.dead) {
    if (pane.deadStatus === 0) return { state: 'done', reason: null };
    // Just dead: tmux fills in how a moment later (both are unknown until then).
    const how = pane.deadStatus !== null ? `exited ${pane.deadStatus}` : pane.deadSignal !== null ? `was killed by signal ${pane.deadSignal}` : 'ended (tmux has not said how yet)';
    return { state: 'failed', reason: `the pane's program ${how}` };
  }
  if (/[$%#>]\s*$/.test(last)) return { state: 'failed', reason: 'the shell prompt is back without the done marker' };
  if (waitingSeen(adapter, lines)) return { state: 'waiting', reason: 'the agent waits for input' };
  return { state: 'running', reason: null };
}
