import * as vscode from 'vscode';
import type { TaskView } from '../core/model/views';
import { Disposable } from './lifecycle';
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
  const g = STATE_LOOK[v.state].group;
  return g === 'needs' ? 'finished' : g; // stopped by the person
}

export type Node = { kind: 'group'; group: Group; count: number } | { kind: 'task'; view: TaskView };

/** What needs a person sits on top; finished tasks stay until cleaned up. */
export class TaskTree extends Disposable implements vscode.TreeDataProvider<Node> {
  private readonly emitter = this.register(new vscode.EventEmitter<Node | undefined>());
  readonly onDidChangeTreeData = this.emitter.event;

  constructor(private readonly model: TaskModel) {
    super();
    this.register(model.onDidChange(() => this.emitter.fire(undefined)));
  }

  getChildren(node?: Node): Node[] {
    // Newest first: by start, and finished tasks by when they finished.
    const at = (v: TaskView) => (STATE_LOOK[v.state].group === 'finished' ? v.attempts[v.attempts.length - 1]?.endedAt : undefined) ?? v.createdAt ?? '';
    const views = [...this.model.views].sort((a, b) => at(b).localeCompare(at(a)));
    if (!node) {
      return GROUPS.map((g) => ({ kind: 'group' as const, group: g.id, count: views.filter((v) => groupOf(v) === g.id).length }))
        .filter((g) => g.count > 0);
    }
    if (node.kind === 'group') {
      const members = views.filter((v) => groupOf(v) === node.group);
      // The queue in its own order: the next to start first.
      if (node.group === 'queued') members.sort((a, b) => (a.queue?.place ?? 0) - (b.queue?.place ?? 0));
      return members.map((view) => ({ kind: 'task' as const, view }));
    }
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'group') {
      const label = GROUPS.find((g) => g.id === node.group)!.label;
      const item = new vscode.TreeItem(`${label} (${node.count})`, vscode.TreeItemCollapsibleState.Expanded);
      item.id = `group:${node.group}`;
      item.contextValue = `group:${node.group}`;
      return item;
    }
    const v = node.view;
    const look = STATE_LOOK[v.state];
    const item = new vscode.TreeItem(v.name, vscode.TreeItemCollapsibleState.None);
    item.id = `task:${v.session}`;
    item.description = describe(v, Date.now(), this.model.service.settings.maxAttempts) + (v.worktree ? ` · ${v.worktree.branch}` : '');
    item.tooltip = tooltip(v, Date.now());
    item.iconPath = new vscode.ThemeIcon(look.icon, new vscode.ThemeColor(look.color));
    item.contextValue = contextValue(v);
    item.command = { command: 'resilientAgent.showOutput', title: 'Show transcript', arguments: [node] };
    item.accessibilityInformation = { label: `${v.session}, ${describe(v, Date.now())}` };
    return item;
  }

  getParent(node: Node): Node | undefined {
    if (node.kind === 'group') return undefined;
    const group = groupOf(node.view);
    return { kind: 'group', group, count: this.model.views.filter((v) => groupOf(v) === group).length };
  }
}
