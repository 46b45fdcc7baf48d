import fs = require('node:fs');
import path = require('node:path');
import vscode = require('vscode');
import * as manifest from '../../package.json';
import type { TaskView } from '../core/model/views';
import { backoffMs, followHost } from '../core/ops/follow';
import { RemoteHosts, listDeadline } from '../core/ops/remote';
import type { Host } from '../core/store/hosts';
import { stateHome } from '../core/store/paths';
import { Disposable, toDisposable } from './lifecycle';
import { channelLogger } from './model';

/** What the view knows of one host: its tasks (as last seen), and whether it answers now. */
export interface HostState {
  host: Host;
  tasks: TaskView[];
  reachable: boolean | undefined;
  /** When it last answered. */
  seenAt?: string;
  /** Since when it has not answered, and why. */
  downSince?: string;
  error?: string;
}

/** A remote task as the view holds it: the host's own view of it. */
function asView(t: Record<string, unknown>): TaskView {
  return { attempts: [], ...t } as unknown as TaskView;
}

/**
 * The registered hosts and their tasks, each host asked on its own loop (`list --json` over its
 * shared ssh connection, within the list deadline): a host that hangs or is gone delays no other.
 */
export class HostsModel extends Disposable {
  private _remote!: RemoteHosts;
  private readonly states = new Map<string, HostState>();
  private readonly loops = new Map<string, { timer?: NodeJS.Timeout; busy?: Promise<void>; again?: Promise<void>; failures?: number; answeredAt?: number; stream: AbortController }>();
  private readonly changed = this.register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;
  private readonly taskChanged = this.register(new vscode.EventEmitter<{ host: string; view: TaskView; from: string | undefined }>());
  /** A remote task's state differs from the last answer of its host. */
  readonly onDidChangeTask = this.taskChanged.event;

  constructor(private readonly log: vscode.LogOutputChannel, private readonly env: NodeJS.ProcessEnv = process.env, private pollMs = 10_000) {
    super();
    this.register(toDisposable(() => {
      this.watcher?.close();
      for (const l of this.loops.values()) this.stop(l);
      this.loops.clear();
    }));
    this.reload();
    // After the task model made the state dir (its first look runs on the next tick too).
    setImmediate(() => this.isDisposed || this.watchRegistry());
  }

  private watcher: fs.FSWatcher | undefined;

  /** A host added or removed elsewhere (\`resilient-agent hosts add\`, another window) shows up at once. */
  private watchRegistry(): void {
    try {
      const home = stateHome(this.env);
      this.watcher = fs.watch(home, (_event, file) => {
        if (file === path.basename(this.remote.registry.file) && !this.isDisposed) this.reload();
      });
      this.watcher.on('error', (e) => this.log.warn(`watching the hosts registry stopped: ${e.message}`));
    } catch (e) {
      this.log.warn(`cannot watch the hosts registry: ${(e as Error).message}`);
    }
  }

  /** The hosts of this state dir over the system's ssh (its settings as of the last reload). */
  get remote(): RemoteHosts {
    return this._remote;
  }

  /** Every registered host, in the order added (local is the TaskModel's). */
  get hosts(): HostState[] {
    return [...this.states.values()];
  }

  state(name: string): HostState | undefined {
    return this.states.get(name);
  }

  /** Reads the registry again: new hosts get a loop (their last answer shown meanwhile), removed ones stop. */
  reload(): void {
    this._remote = new RemoteHosts({ home: stateHome(this.env), env: this.env, logger: channelLogger(this.log), version: (manifest as unknown as { version: string }).version });
    let hosts: Host[] = [];
    try {
      hosts = this.remote.registry.list();
    } catch (e) {
      this.log.error(`hosts: ${(e as Error).message}`);
    }
    for (const name of [...this.states.keys()]) {
      if (hosts.some((h) => h.name === name)) continue;
      this.states.delete(name);
      const l = this.loops.get(name);
      if (l) this.stop(l);
      this.loops.delete(name);
    }
    for (const host of hosts) {
      if (this.states.has(host.name)) continue;
      const seen = this.remote.registry.seen(host.name);
      this.states.set(host.name, { host, tasks: (seen?.tasks ?? []).map(asView), reachable: undefined, ...(seen?.at ? { seenAt: seen.at } : {}) });
      const loop = { stream: new AbortController() };
      this.loops.set(host.name, loop);
      void this.poll(host.name);
      this.follow(host, loop.stream.signal);
    }
    this.changed.fire();
  }

  private stop(l: { timer?: NodeJS.Timeout; stream: AbortController }): void {
    if (l.timer) clearTimeout(l.timer);
    l.stream.abort();
  }

  /**
   * The host's event stream (one long-lived ssh running its \`events --json\`, a heartbeat every
   * 1.5 s, reopened with backoff): a hello or a change asks the host at once, so the view follows
   * within a round trip. A stream that was up and goes silent (a hung host) or drops shows the host
   * unreachable at once, without waiting for a list's deadline; it is asked again when its stream
   * speaks again.
   */
  private follow(host: Host, signal: AbortSignal): void {
    let up = false;
    void followHost(this.remote, host, {
      line: (name, event) => {
        if (event.type === 'hello' || event.type === 'change' || this.speaksWhileDown(name)) void this.poll(name);
      },
      up: (name) => {
        this.log.info(`host ${name}: its event stream speaks`);
        up = true;
        void this.poll(name);
      },
      down: (name, why) => {
        const s = this.states.get(name);
        if (!s || signal.aborted) return;
        this.log.info(`host ${name}: its event stream stopped (${why})`);
        // A stream that never came up (an old remote CLI) says nothing of the host: it is asked.
        if (up) this.unreachable(name, s, `host ${name} (${host.target}): ${why}`);
        up = false;
        void this.poll(name);
      },
    }, signal).catch((e) => this.log.warn(`host ${host.name}: following its events failed: ${(e as Error).message}`));
  }

  /**
   * Its stream speaks (a heartbeat) while a question found it unreachable (it hung, and woke before its
   * stream's silence was long enough to say so): it is asked again now, not at the next poll; less
   * often while its questions keep failing.
   */
  private speaksWhileDown(name: string): boolean {
    const loop = this.loops.get(name);
    if (!loop || loop.busy || this.states.get(name)?.reachable !== false) return false;
    return Date.now() - (loop.answeredAt ?? 0) >= backoffMs(loop.failures ?? 1);
  }

  private unreachable(name: string, s: HostState, error: string): void {
    if (s.reachable !== false) this.log.warn(`host ${name} is unreachable: ${error}`);
    this.remote.registry.failed(name, error);
    s.reachable = false;
    s.downSince ??= new Date().toISOString();
    s.error = error;
    this.changed.fire();
  }

  /** Asks every host now (each on its own; resolves when all answered or gave up). */
  async refresh(): Promise<void> {
    this.reload();
    await Promise.all(this.hosts.map((s) => this.poll(s.host.name)));
  }

  /**
   * Asks one host now. While a question is on its way, one more is asked once it is answered
   * (the answer on its way may predate what asked: a kill just done, a change just streamed).
   */
  poll(name: string): Promise<void> {
    const loop = this.loops.get(name);
    if (!loop) return Promise.resolve();
    if (loop.busy) {
      const next = (): Promise<void> | undefined => {
        loop.again = undefined;
        return this.isDisposed || this.loops.get(name) !== loop ? undefined : this.poll(name);
      };
      loop.again ??= loop.busy.then(next, next);
      return loop.again;
    }
    if (loop.timer) clearTimeout(loop.timer);
    loop.busy = this.ask(name).finally(() => {
      loop.busy = undefined;
      loop.answeredAt = Date.now();
      if (this.isDisposed || this.loops.get(name) !== loop) return;
      // A host that does not answer is asked again less and less often (at most every 30 s).
      loop.failures = this.states.get(name)?.reachable === false ? (loop.failures ?? 0) + 1 : 0;
      loop.timer = setTimeout(() => void this.poll(name), loop.failures ? Math.max(this.pollMs, backoffMs(loop.failures)) : this.pollMs);
    });
    return loop.busy;
  }

  private async ask(name: string): Promise<void> {
    const s = this.states.get(name);
    if (!s) return;
    const started = Date.now();
    try {
      const tasks = await this.remote.list(s.host, listDeadline(this.remote.options.env));
      if (this.states.get(name) !== s) return;
      const before = new Map(s.tasks.map((t) => [t.session, t.state as string]));
      const known = s.reachable !== undefined || s.seenAt !== undefined;
      s.tasks = tasks.map(asView);
      if (s.reachable === false) this.log.info(`host ${name} answers again`);
      s.reachable = true;
      s.seenAt = new Date().toISOString();
      delete s.downSince;
      delete s.error;
      if (known) for (const v of s.tasks) if (before.get(v.session) !== v.state) this.taskChanged.fire({ host: name, view: v, from: before.get(v.session) });
      this.log.debug(`host ${name}: ${tasks.length} tasks [${Date.now() - started}ms]`);
    } catch (e) {
      this.log.debug(`host ${name}: no answer after ${Date.now() - started}ms: ${(e as Error).message}`);
      if (this.states.get(name) !== s) return;
      this.unreachable(name, s, (e as Error).message);
      return;
    }
    this.changed.fire();
  }

  /** Every task of every host, with its host (for the status bar). */
  allViews(): TaskView[] {
    return this.hosts.flatMap((s) => s.tasks);
  }
}

const NOTIFY: Record<string, string> = { done: 'is done', waiting: 'waits for you', held: 'is held', 'gave-up': 'gave up', failed: 'failed' };

/** A remote task that finished or needs a person says so, naming its host. */
export function hostNotices(hosts: HostsModel): vscode.Disposable {
  return hosts.onDidChangeTask(({ host, view }) => {
    const said = NOTIFY[view.state];
    if (!said) return;
    const text = `Resilient Agent: ${view.name} on host ${host} ${said}.`;
    if (view.state === 'done') void vscode.window.showInformationMessage(text);
    else void vscode.window.showWarningMessage(text);
  });
}
