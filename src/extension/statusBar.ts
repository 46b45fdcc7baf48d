import vscode = require('vscode');
import type { TaskState } from '../core/model/record';
import type { TaskView } from '../core/model/views';
import { describe, needsYou } from './present';
import { Disposable } from './lifecycle';
import type { HostsModel } from './hosts';
import type { TaskModel } from './model';

const ORDER: TaskState[] = ['running', 'resuming', 'waiting', 'idle', 'held', 'failed', 'lost', 'gave-up', 'queued', 'done'];
const LABEL: Record<TaskState, string> = {
  running: 'running', resuming: 'resuming', waiting: 'waiting', idle: 'idle', held: 'held', failed: 'failed', lost: 'lost', 'gave-up': 'gave up', queued: 'queued', done: 'done',
};

/** `2 running · 1 waiting`: counts by state, coloured when a task needs a person. */
export function statusText(counts: Map<TaskState, number>): string {
  const parts = ORDER.filter((s) => (counts.get(s) ?? 0) > 0).map((s) => `${counts.get(s)} ${LABEL[s]}`);
  return parts.length ? parts.join(' · ') : 'no tasks';
}

/** What the status bar says: what runs and what needs you; finished tasks are not counted. */
export function shortStatus(views: readonly TaskView[]): string {
  const need = views.filter(needsYou).length;
  const active = views.filter((v) => !needsYou(v) && ['running', 'resuming', 'failed', 'lost', 'waiting', 'idle'].includes(v.state)).length;
  const queued = views.filter((v) => v.state === 'queued').length;
  const parts = [active ? `${active} running` : '', queued ? `${queued} queued` : '', need ? `${need} need${need === 1 ? 's' : ''} you` : ''].filter(Boolean);
  if (parts.length) return parts.join(' · ');
  const done = views.filter((v) => v.state === 'done').length;
  return done ? `${done} done` : 'no tasks running';
}

/** "Supervised in the background since 14:02 (pid 4242)", or by whom else. */
export function supervisionLine(model: TaskModel): string {
  const s = model.supervisor;
  if (!s?.running || !s.holder) return s?.unfinished ? 'Not supervised right now: a supervisor is being started.' : 'No task needs a supervisor.';
  const since = new Date(s.holder.acquiredAt).toLocaleString();
  if (s.background) return `Supervised in the background since ${since} (pid ${s.holder.pid}).`;
  if (s.holder.pid === process.pid) return `Supervised by this window since ${since}, every ${model.monitorIntervalMs / 1000}s.`;
  return `Supervised by ${s.holder.owner} since ${since}.`;
}

export class StatusBar extends Disposable {
  private readonly item = this.register(vscode.window.createStatusBarItem('resilientAgent.status', vscode.StatusBarAlignment.Left, 50));

  constructor(private readonly model: TaskModel, private readonly hosts?: HostsModel) {
    super();
    if (hosts) this.register(hosts.onDidChange(() => this.update()));
    this.item.name = 'Resilient Agent tasks';
    this.item.command = 'resilientAgent.tasks.focus';
    this.register(model.onDidChange(() => this.update()));
    this.update();
  }

  get text(): string {
    return this.item.text;
  }

  private update(): void {
    // Every host's tasks: this machine's, then each registered host's as last seen.
    const views = [...this.model.views, ...(this.hosts?.allViews() ?? [])];
    if (views.length === 0) {
      this.item.hide();
      return;
    }
    const counts = new Map<TaskState, number>();
    for (const v of views) counts.set(v.state, (counts.get(v.state) ?? 0) + 1);
    const text = shortStatus(views);
    this.item.text = `$(hubot) ${text}`;
    // The error colour only for what needs a person now; a hold that resets by itself is not that.
    this.item.backgroundColor = views.some(needsYou) ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**Agent tasks**: ${statusText(counts)}\n\n`);
    for (const v of this.model.views) md.appendMarkdown(`- **${v.name}**: ${describe(v, Date.now())}\n`);
    for (const s of this.hosts?.hosts ?? []) {
      for (const v of s.tasks) md.appendMarkdown(`- **${v.name}** on ${s.host.name}${s.reachable === false ? ' (unreachable)' : ''}: ${describe(v, Date.now())}\n`);
    }
    md.appendMarkdown(`\n${supervisionLine(this.model)}`);
    this.item.tooltip = md;
    this.item.accessibilityInformation = { label: `Agent tasks: ${text}` };
    this.item.show();
  }
}
