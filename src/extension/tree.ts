import vscode = require('vscode');
import type { TaskView } from '../core/model/views';
import { Disposable } from './lifecycle';
import type { HostsModel } from './hosts';
import type { TaskModel } from './model';
import { contextValue, describe, needsYou, resolvesItself, STATE_LOOK, tooltip } from './present';

type Group = 'needs' | 'running' | 'queued' | 'finished';
const GROUPS: { id: Group; label: string }[] = [
  { id: 'needs', label: 'Needs you' },
  { id: 'running', label: 'Running' },
  { id: 'queued', label: 'Queued' },
  { id: 'finished', label: 'Finished' },
];

/** What needs a person sits on top, whatever its state's usual group (a hand-started failure). */
function groupOf(v: TaskView): Group {
  if (needsYou(v)) return 'needs';
  if (resolvesItself(v)) return 'running'; // a usage limit that resets by itself
  const g = STATE_LOOK[v.state]?.group ?? 'running'; // a state a newer host knows
  return g === 'needs' ? 'finished' : g; // stopped by the person
}

/** `host` is set on a group or task of a registered host (none: this machine's). */
export type Node = { kind: 'host'; name: string } | { kind: 'group'; group: Group; count: number; host?: string } | { kind: 'task'; view: TaskView; host?: string };

/**
 * A remote task's menu: the parts of its context that an action over ssh serves (what needs the
 * task's files on this machine, its folder, its event log and its prompt, is not offered for it).
 */
const REMOTE_PARTS = /^(task|state=.*|managed|live|agentRuns|resumable|hasId|hasWorktree|queued|canFollowUp)$/;
export function remoteContextValue(v: TaskView): string {
  return [...contextValue(v).split(':').filter((p) => REMOTE_PARTS.test(p)), 'remote'].join(':');
}

/** Newest first: by start, and finished tasks by when they finished. */
function newestFirst(views: readonly TaskView[]): TaskView[] {
  const at = (v: TaskView) => (STATE_LOOK[v.state]?.group === 'finished' ? v.attempts[v.attempts.length - 1]?.endedAt : undefined) ?? v.createdAt ?? '';
  return [...views].sort((a, b) => at(b).localeCompare(at(a)));
}

/** The groups of these tasks (the non-empty ones, in order), or the tasks of one group. */
function grouped(views: readonly TaskView[], host: string | undefined, group?: Group): Node[] {
  const sorted = newestFirst(views);
  const on = host === undefined ? {} : { host };
  if (group === undefined) {
    return GROUPS.map((g) => ({ kind: 'group' as const, group: g.id, count: sorted.filter((v) => groupOf(v) === g.id).length, ...on }))
      .filter((g) => g.count > 0);
  }
  const members = sorted.filter((v) => groupOf(v) === group);
  // The queue in its own order: the next to start first.
  if (group === 'queued') members.sort((a, b) => (a.queue?.place ?? 0) - (b.queue?.place ?? 0));
  return members.map((view) => ({ kind: 'task' as const, view, ...on }));
}

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

/** What needs a person sits on top; finished tasks stay until cleaned up. */
export class TaskTree extends Disposable implements vscode.TreeDataProvider<Node> {
  private readonly emitter = this.register(new vscode.EventEmitter<Node | undefined>());
  readonly onDidChangeTreeData = this.emitter.event;

  constructor(private readonly model: TaskModel, private readonly hosts?: HostsModel) {
    super();
    this.register(model.onDidChange(() => this.emitter.fire(undefined)));
    if (hosts) this.register(hosts.onDidChange(() => this.emitter.fire(undefined)));
  }

  /** With hosts registered: a node per host, this machine first; without, this machine's groups. */
  getChildren(node?: Node): Node[] {
    if (!node && this.hosts?.hosts.length) return [{ kind: 'host', name: 'local' }, ...this.hosts.hosts.map((s) => ({ kind: 'host' as const, name: s.host.name }))];
    // Every host's tasks grouped by state under it, as this machine's.
    if (node?.kind === 'host') return grouped(this.tasksOf(node.name), node.name === 'local' ? undefined : node.name);
    if (!node) return grouped(this.model.views, undefined);
    if (node.kind === 'group') return grouped(this.tasksOf(node.host ?? 'local'), node.host, node.group);
    return [];
  }

  private tasksOf(host: string): readonly TaskView[] {
    return host === 'local' ? this.model.views : this.hosts?.state(host)?.tasks ?? [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'host') return this.hostItem(node.name);
    if (node.kind === 'group') {
      const label = GROUPS.find((g) => g.id === node.group)!.label;
      const item = new vscode.TreeItem(`${label} (${node.count})`, vscode.TreeItemCollapsibleState.Expanded);
      item.id = node.host ? `group:${node.host}:${node.group}` : `group:${node.group}`;
      item.contextValue = `group:${node.group}${node.host ? ':remote' : ''}`;
      return item;
    }
    const v = node.view;
    const look = STATE_LOOK[v.state] ?? STATE_LOOK.running;
    const item = new vscode.TreeItem(v.name, vscode.TreeItemCollapsibleState.None);
    item.id = node.host ? `task:${node.host}:${v.session}` : `task:${v.session}`;
    const stale = node.host !== undefined && this.hosts?.state(node.host)?.reachable === false;
    item.description = (stale ? 'as last seen: ' : '') + describe(v, Date.now(), this.model.service.settings.maxAttempts) + (v.worktree ? ` · ${v.worktree.branch}` : '');
    item.tooltip = node.host ? `${v.session} on host ${node.host}` : tooltip(v, Date.now());
    item.iconPath = new vscode.ThemeIcon(look.icon, new vscode.ThemeColor(look.color));
    item.contextValue = node.host ? remoteContextValue(v) : contextValue(v);
    item.command = { command: 'resilientAgent.showOutput', title: 'Show transcript', arguments: [node] };
    item.accessibilityInformation = { label: `${v.session}, ${describe(v, Date.now())}` };
    return item;
  }

  private hostItem(name: string): vscode.TreeItem {
    const item = new vscode.TreeItem(name, vscode.TreeItemCollapsibleState.Expanded);
    item.id = `host:${name}`;
    const now = Date.now();
    if (name === 'local') {
      item.description = `this machine · ${this.model.views.length} task${this.model.views.length === 1 ? '' : 's'}`;
      item.iconPath = new vscode.ThemeIcon('vm');
      item.contextValue = 'host:local';
      return item;
    }
    const s = this.hosts?.state(name);
    const n = s?.tasks.length ?? 0;
    const count = `${n} task${n === 1 ? '' : 's'}`;
    if (s?.reachable === false) {
      item.description = `unreachable since ${ago(s.downSince!, now)} ago · ${count}${s.seenAt ? ` as last seen ${ago(s.seenAt, now)} ago` : ''}`;
      item.iconPath = new vscode.ThemeIcon('debug-disconnect', new vscode.ThemeColor('errorForeground'));
      item.tooltip = `${s.host.target}: ${s.error ?? 'unreachable'}${s.seenAt ? `\nLast seen ${new Date(s.seenAt).toLocaleString()}` : ''}`;
      item.contextValue = 'host:remote:unreachable';
    } else {
      item.description = `${s?.reachable ? 'reachable' : 'connecting…'} · ${count}`;
      item.iconPath = new vscode.ThemeIcon('remote');
      item.tooltip = `${s?.host.target ?? name}${s?.seenAt ? `: last answered ${new Date(s.seenAt).toLocaleString()}` : ''}`;
      item.contextValue = 'host:remote:reachable';
    }
    item.accessibilityInformation = { label: `host ${name}, ${String(item.description)}` };
    return item;
  }

  getParent(node: Node): Node | undefined {
    if (node.kind === 'host') return undefined;
    if (node.kind === 'group') return node.host ? { kind: 'host', name: node.host } : this.hosts?.hosts.length ? { kind: 'host', name: 'local' } : undefined;
    const group = groupOf(node.view);
    const count = this.tasksOf(node.host ?? 'local').filter((v) => groupOf(v) === group).length;
    return { kind: 'group', group, count, ...(node.host ? { host: node.host } : {}) };
  }
}
