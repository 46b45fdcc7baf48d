import vscode = require('vscode');
import type { TaskState } from '../core/model/record';
import type { TaskView } from '../core/model/views';
import { adapterFor } from '../core/agents/registry';
import { heldByAgent, scheduledTry } from '../core/model/holds';
import { readUiSettings } from './config';
import { clock } from './present';
import { Disposable } from './lifecycle';
import type { TaskModel } from './model';

/** What this window last saw recorded of each task: `state@since`. Kept across reloads. */
const SEEN_KEY = 'resilientAgent.notices.seen';
/** More changes than this at once become one notification. */
const COALESCE_OVER = 2;

interface Notice {
  session: string;
  name: string;
  state: TaskState;
  message: string;
  actions: string[];
  severity: 'info' | 'warning' | 'error';
}

const COMMANDS: Record<string, string> = {
  'Show Transcript': 'resilientAgent.showOutput',
  'Send Input': 'resilientAgent.sendInput',
  Attach: 'resilientAgent.attach',
  'Resume Now': 'resilientAgent.resume',
  'Show Tasks': 'resilientAgent.tasks.focus',
};

/**
 * Notifications with actions on done, waiting, gave-up and held, whoever supervises: each window
 * announces what it sees change in the task records (written by this window's supervisor, the
 * background supervisor or a CLI monitor), each change once, and not again after a reload.
 */
export class Notices extends Disposable {
  /** What was shown, for tests and the log. */
  readonly shown: { session: string; state: string; message: string }[] = [];
  private seen: Record<string, string>;
  /** Waiting tasks whose notice stays until they no longer wait: how to close each. */
  private readonly waiting = new Map<string, () => void>();

  constructor(model: TaskModel, private readonly log: vscode.LogOutputChannel, private readonly memento: vscode.Memento) {
    super();
    this.register({ dispose: () => this.closeWaiting(() => true) });
    const stored = memento.get<Record<string, string>>(SEEN_KEY);
    this.seen = stored ?? {};
    // The first look in a workspace only learns what is there: no toasts for yesterday's tasks.
    let baseline = stored === undefined;
    this.register(model.onDidChange(() => {
      if (!model.loaded) return;
      // A question answered (or the task gone): its notice goes by itself.
      this.closeWaiting((session) => model.views.find((v) => v.session === session)?.recorded?.state !== 'waiting');
      this.check(model.views, baseline);
      baseline = false;
    }));
  }

  /** Sessions whose waiting notice is up now (for tests). */
  get waitingShown(): string[] {
    return [...this.waiting.keys()];
  }

  private closeWaiting(done: (session: string) => boolean): void {
    for (const [session, close] of this.waiting) {
      if (!done(session)) continue;
      this.waiting.delete(session);
      close();
    }
  }

  private check(views: readonly TaskView[], baseline: boolean): void {
    const next: Record<string, string> = {};
    const notices: Notice[] = [];
    for (const v of views) {
      if (!v.recorded) continue;
      const key = `${v.recorded.state}@${v.recorded.since}`;
      next[v.session] = key;
      if (baseline || this.seen[v.session] === key) continue;
      const n = noticeFor(v, v.recorded.state);
      if (n) notices.push(n);
    }
    const changed = Object.keys(next).length !== Object.keys(this.seen).length || Object.entries(next).some(([s, k]) => this.seen[s] !== k);
    this.seen = next;
    if (changed) void this.memento.update(SEEN_KEY, next);
    if (notices.length === 0) return;
    const { notify } = readUiSettings();
    const wanted = notices.filter((n) => ({ done: notify.done, waiting: notify.waiting, held: notify.held, 'gave-up': notify.gaveUp } as Record<string, boolean>)[n.state]);
    if (wanted.length > COALESCE_OVER) {
      const order: TaskState[] = ['waiting', 'held', 'gave-up', 'done'];
      wanted.sort((a, b) => order.indexOf(a.state) - order.indexOf(b.state));
      const needYou = wanted.filter((n) => n.state !== 'done').length;
      const summary = `${wanted.length} agent tasks changed${needYou ? ` (${needYou} need you)` : ''}: ${wanted.map((n) => `${n.name} ${label(n.state)}`).join(', ')}.`;
      this.show({ session: '', name: '', state: wanted[0].state, message: summary, actions: ['Show Tasks'], severity: needYou ? 'warning' : 'info' }, wanted);
      return;
    }
    for (const n of wanted) this.show(n, [n]);
  }

  private show(n: Notice, covers: Notice[]): void {
    for (const c of covers) this.shown.push({ session: c.session, state: c.state, message: n.message });
    this.log.info(`notice: ${n.message}`);
    if (n.state === 'waiting' && n.session) {
      this.showWaiting(n);
      return;
    }
    const show = n.severity === 'error' ? vscode.window.showErrorMessage : n.severity === 'warning' ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    void Promise.resolve(show(n.message, ...n.actions)).then(async (choice) => {
      const command = COMMANDS[choice ?? ''];
      if (command) await vscode.commands.executeCommand(command, ...(n.session ? [n.session] : []));
    });
  }

  /**
   * The one notice that must not hide by itself: an agent blocked on a person. VS Code keeps an
   * extension's toast up only while it shows progress, so it is a progress notification: up while
   * the task waits, gone by itself once it is answered (its close button only hides it). It has no
   * buttons (a progress notification can have only Cancel, which would read as stopping the agent):
   * it says where to answer.
   */
  private showWaiting(n: Notice): void {
    if (this.waiting.has(n.session)) return;
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: n.message, cancellable: false },
      (progress) => new Promise<void>((resolve) => {
        progress.report({ message: `Answer it with Send Input on "${n.name}" in Agent Tasks, or attach to its pane.` });
        this.waiting.set(n.session, resolve);
      }),
    );
  }
}

function label(state: TaskState): string {
  return state === 'gave-up' ? 'gave up' : state === 'waiting' ? 'waiting for you' : state;
}

/** `: "Fixed the parser; all 41 tests pass."`: the first line of what the agent said last. */
function lastWord(v: TaskView): string {
  const first = v.lastMessage?.split('\n').find((l) => l.trim() !== '')?.trim();
  if (!first) return '.';
  return `: "${first.length > 160 ? `${first.slice(0, 159)}…` : first}"`;
}

function noticeFor(v: TaskView, state: TaskState): Notice | undefined {
  const base = { session: v.session, name: v.name, state };
  const who = `Agent task "${v.name}" (${v.agent})`;
  switch (state) {
    case 'done':
      return { ...base, message: `${who} is done${lastWord(v)}`, actions: ['Show Transcript'], severity: 'info' };
    case 'waiting':
      return { ...base, message: `${who} is waiting for your answer.`, actions: ['Send Input', 'Attach'], severity: 'warning' };
    case 'held': {
      const reason = v.reason ?? 'not resumed';
      // The person's own stop needs no telling.
      if (/^(killed|stopped) by the user/.test(reason)) return undefined;
      if (/^authentication failed/.test(reason)) {
        // Resuming before signing in fails again: the sign-in comes first.
        const how = adapterFor(v.agent).signIn;
        return { ...base, message: `${who} needs you to sign in${how ? ` (${how})` : ''}, then resume it: ${reason}.`, actions: ['Show Transcript', 'Resume Now'], severity: 'warning' };
      }
      if (heldByAgent(v)) {
        const at = v.heldUntil ? ` (it resets ${clock(v.heldUntil, Date.now())})` : '';
        return { ...base, message: `${who} hit a usage limit and waits it out by itself${at}; it is resumed only if it dies or gives up.`, actions: ['Show Output'], severity: 'info' };
      }
      if (scheduledTry(v) && v.heldUntil) {
        return { ...base, message: `${who} hit a usage limit that gives no reset time; the next try is at ${clock(v.heldUntil, Date.now())}: ${reason}.`, actions: ['Resume Now', 'Show Output'], severity: 'info' };
      }
      if (v.heldUntil) {
        return { ...base, message: `${who} waits for its usage limit to reset (${clock(v.heldUntil, Date.now())}); it is resumed then by itself.`, actions: ['Show Transcript'], severity: 'info' };
      }
      return { ...base, message: `${who} is held: ${reason}.`, actions: ['Resume Now', 'Show Transcript'], severity: 'warning' };
    }
    case 'gave-up':
      return {
        ...base, message: /^gave up /.test(v.reason ?? '') ? `${who} ${v.reason}.` : `${who} gave up: ${v.reason ?? 'its limits are spent'}.`,
        actions: ['Resume Now', 'Show Transcript'], severity: 'error',
      };
    default:
      return undefined;
  }
}
