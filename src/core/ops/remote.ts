import path = require('node:path');
import type { Envelope } from '../model/contract';
import { CONTRACT, EnvelopeSchema } from '../model/contract';
import { TaskError, UsageError } from '../model/errors';
import type { Logger } from '../platform/log';
import type { SshConfig } from '../platform/ssh';
import { prepareControlDir, runSsh, SshBatch, shCommand, shQuote, sshArgv, SshError } from '../platform/ssh';
import type { Host, Seen } from '../store/hosts';
import { HostRegistry, LOCAL_HOST } from '../store/hosts';
import { CHANGED_FILE } from '../store/store';
import { snapshotFile, untilFile, wantedFile } from './listSnapshot';

/**
 * Where `hosts install` puts the CLI on a host (the user's own folders, no root), and how every
 * remote command finds it: that launcher first, then the PATH of ssh's non-interactive shell.
 */
export const REMOTE_CLI = '.local/share/resilient-agent/cli.js';
/** What the launcher runs: cli.js beside it, with a V8 code cache (see hostLoader.ts). */
export const REMOTE_LOADER = '.local/share/resilient-agent/load.js';
export const REMOTE_LAUNCHER = '.local/bin/resilient-agent';
export const FIND_CLI = 'PATH="$HOME/.local/bin:$PATH"; export PATH; exec resilient-agent';

/** How long one host may take to answer `list` before it is shown as unreachable. */
export const LIST_DEADLINE_MS = 8_000;
/** Any other command on a host (a start makes a worktree and waits for its pane). */
export const ACTION_DEADLINE_MS = 120_000;

/** The failure of a command on a host, said for a person, with the fix where there is one. */
export class RemoteError extends TaskError {
  constructor(message: string, readonly host: string, readonly kind: 'unreachable' | 'contract' | 'missing' | 'command', readonly exit = 1) {
    super(message, kind === 'command' ? 'failed' : 'missing-tool');
    this.name = 'RemoteError';
  }
}

export interface RemoteOptions {
  home: string;
  env: NodeJS.ProcessEnv;
  logger?: Logger;
  /** The CLI's own version, said beside a contract mismatch. */
  version: string;
}

export interface HostAnswer {
  host: string;
  /** Answered now: the tasks as the host has them. */
  tasks: Record<string, unknown>[];
  /** Not answered: why, and what it said last (and when). */
  unreachable?: { error: string; seenAt: string | null };
}

/** The ssh settings of this state dir: the test's (or person's) own ssh config file if one is named. */
export function sshConfigOf(home: string, env: NodeJS.ProcessEnv): SshConfig {
  const seconds = (v: string | undefined, d: number) => (v && Number(v) > 0 ? Number(v) : d);
  return {
    home,
    env,
    ...(env.RESILIENT_AGENT_SSH_CONFIG ? { configFile: env.RESILIENT_AGENT_SSH_CONFIG } : {}),
    connectTimeoutSeconds: seconds(env.RESILIENT_AGENT_SSH_CONNECT_TIMEOUT, 10),
  };
}

/** The hosts of this state dir, and every command on them: the remote CLI over the system's ssh. */
export class RemoteHosts {
  readonly registry: HostRegistry;
  readonly ssh: SshConfig;

  constructor(readonly options: RemoteOptions) {
    this.registry = new HostRegistry(options.home);
    this.ssh = sshConfigOf(options.home, options.env);
  }

  /** The environment ssh runs with: the caller's (its agent socket, HOME for ~/.ssh). */
  private get env(): NodeJS.ProcessEnv {
    return this.options.env;
  }

  /** Runs a command string on a host; ssh's failures as RemoteError. */
  async shell(host: Host, command: string, opts: { input?: string; timeoutMs?: number; batch?: SshBatch } = {}): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    prepareControlDir(this.options.home);
    const started = Date.now();
    const what = `host ${host.name} (${host.target})`;
    const run = (shared: boolean) => {
      const argv = sshArgv(this.ssh, host.name, host.target, command, { shared });
      // Asked with other hosts at once (listAll): started together with theirs.
      if (shared && opts.batch && opts.input === undefined) return opts.batch.run(argv, what);
      return runSsh(argv, this.env, { input: opts.input, timeoutMs: opts.timeoutMs, what });
    };
    try {
      // The shared connection refused one more session (sshd's MaxSessions): the command never
      // started there, so it runs once more on a connection of its own.
      const r = await run(true).catch((e) => {
        if (e instanceof SshError && e.cause === 'refused-session') return run(false);
        throw e;
      });
      this.options.logger?.debug(`> ssh ${host.target} ${command} [${Date.now() - started}ms, exit ${r.exitCode}]`);
      return r;
    } catch (e) {
      this.options.logger?.debug(`> ssh ${host.target} ${command} [${Date.now() - started}ms, ${(e as Error).message}]`);
      if (e instanceof SshError) throw new RemoteError(sshSentence(e, host), host.name, 'unreachable');
      throw e;
    }
  }

  /**
   * Runs `resilient-agent --contract N ARGS…` on a host and returns its answer. `input` goes to its
   * stdin (a prompt, with `--prompt -`). Refuses a remote CLI of another contract, saying the fix.
   */
  async call(host: Host, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<unknown> {
    return (await this.answer(host, cliCommand(args), opts)).result;
  }

  /** Runs a command string that answers with the envelope of a remote CLI, and returns it (a failure thrown). */
  private async answer(host: Host, command: string, opts: { input?: string; timeoutMs?: number; batch?: SshBatch }): Promise<Envelope> {
    const r = await this.shell(host, command, { timeoutMs: opts.timeoutMs ?? ACTION_DEADLINE_MS, batch: opts.batch, ...(opts.input !== undefined ? { input: opts.input } : {}) });
    const fix = `resilient-agent hosts install ${host.name}`;
    if (r.exitCode === 127 && !r.stdout.trim()) {
      throw new RemoteError(`resilient-agent is not installed on host ${host.name} (not in ~/${REMOTE_LAUNCHER} nor on the PATH of its ssh commands): ${fix}`, host.name, 'missing');
    }
    let envelope;
    try {
      envelope = EnvelopeSchema.safeParse(JSON.parse(r.stdout));
    } catch {
      envelope = undefined;
    }
    if (!envelope?.success) {
      const said = r.stderr.trim().split('\n').at(-1) ?? '';
      if (/unknown command "--contract"|unknown option --contract/.test(r.stderr)) {
        throw new RemoteError(`host ${host.name} runs an older resilient-agent that does not speak contract ${CONTRACT} (this one is ${this.options.version}): update it with ${fix}`, host.name, 'contract');
      }
      throw new RemoteError(`host ${host.name} answered what is not a resilient-agent answer (exit ${r.exitCode}${said ? `: ${said}` : ''}); reinstall it: ${fix}`, host.name, 'contract');
    }
    const env = envelope.data;
    if (env.contract !== CONTRACT) {
      const side = env.contract > CONTRACT ? 'a newer' : 'an older';
      throw new RemoteError(`host ${host.name} runs ${side} resilient-agent${env.version ? ` (${env.version})` : ''} speaking contract ${env.contract}, this one (${this.options.version}) speaks contract ${CONTRACT}: put this version there with ${fix}${env.contract > CONTRACT ? ', or update this one' : ''}`, host.name, 'contract');
    }
    if (!env.ok) throw new RemoteError(`on host ${host.name}: ${env.error ?? 'failed'}`, host.name, 'command', env.exit ?? 1);
    return env;
  }

  /**
   * A host's tasks (kept as its last answer): its list snapshot read with `cat` while it is fresh
   * (ops/listSnapshot.ts: no Node started there), else its CLI's `list`.
   */
  async list(host: Host, timeoutMs = listDeadline(this.options.env), batch?: SshBatch): Promise<Record<string, unknown>[]> {
    const known = this.registry.seen(host.name)?.snapshot;
    const list = cliCommand(['list', '--host', LOCAL_HOST, '--json']);
    const env = await this.answer(host, known ? `${snapshotShell(known)} ${list}` : list, { timeoutMs, batch });
    if (!Array.isArray(env.result)) throw new RemoteError(`host ${host.name} answered list with what is not a list`, host.name, 'contract');
    const tasks = env.result as Record<string, unknown>[];
    const snapshot = env.snapshot && /^[0-9a-f]{12}$/.test(env.snapshot.hostKey) && path.isAbsolute(env.snapshot.home) ? env.snapshot : undefined;
    try {
      this.registry.remember(host.name, tasks, new Date(), snapshot);
    } catch (e) {
      this.options.logger?.warn(`cannot keep host ${host.name}'s answer: ${(e as Error).message}`);
    }
    return tasks;
  }

  /** The host of that name (local is not one: it is this machine). */
  host(name: string): Host {
    if (name === LOCAL_HOST) throw new UsageError('"local" is this machine, reached without ssh (see resilient-agent version and doctor)');
    return this.registry.get(name);
  }

  /**
   * Every registered host's tasks, asked at once, each within `deadlineMs`: a host that does not
   * answer in time is shown with what it said last, and does not hold up the others.
   */
  async listAll(deadlineMs = listDeadline(this.options.env)): Promise<HostAnswer[]> {
    const hosts = this.registry.list();
    const batch = new SshBatch(this.env, deadlineMs);
    return Promise.all(hosts.map(async (host): Promise<HostAnswer> => {
      try {
        return { host: host.name, tasks: await this.list(host, deadlineMs, batch) };
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        const seen: Seen | undefined = this.registry.failed(host.name, error);
        return { host: host.name, tasks: seen?.tasks ?? [], unreachable: { error, seenAt: seen?.at || null } };
      }
    }));
  }

  /** The argv of an interactive `ssh -t` into the task's pane on a host (its own connection). */
  attachArgv(host: Host, nameOrSession: string): string[] {
    prepareControlDir(this.options.home);
    return sshArgv(this.ssh, host.name, host.target, `${FIND_CLI} ${shCommand(['attach', '--', nameOrSession])}`, { tty: true, shared: false });
  }
}

export function listDeadline(env: NodeJS.ProcessEnv): number {
  const ms = Number(env.RESILIENT_AGENT_HOST_DEADLINE_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : LIST_DEADLINE_MS;
}

/** ssh's failure, for a person: what went wrong and what to do. */
function sshSentence(e: SshError, host: Host): string {
  const where = `host ${host.name} (${host.target})`;
  switch (e.cause) {
    case 'no-ssh':
    case 'local': return e.message;
    case 'auth': return `${where} refused the key: ssh could not log in without asking (BatchMode). Load the key in ssh-agent or name it in ~/.ssh/config (IdentityFile), and check: ssh ${host.target} true`;
    case 'host-key': return `${where}: its host key is not known or has changed; check it and add it to your known_hosts by connecting once: ssh ${host.target} true`;
    case 'timeout': return `${where} did not answer in time (${e.message.replace(/^.* did not answer in /, '')})`;
    default: return `${where} is unreachable: ${e.message.replace(/^host [^:]*: /, '')}`;
  }
}

/** The remote CLI driven with the contract: `resilient-agent --contract N ARGS…`, found as FIND_CLI says. */
function cliCommand(args: readonly string[]): string {
  return `${FIND_CLI} ${shCommand(['--contract', String(CONTRACT), ...args])}`;
}

/**
 * The POSIX shell that answers `list` with the host's snapshot and ends, when the shell's own `test`
 * says it is fresh (ops/listSnapshot.ts: written after the last record change, its `.until` date not
 * passed and itself not dated after this question's mark, which a clock set back would do) and it is
 * the snapshot of the state dir the host's CLI would use; else the command after it runs (the CLI's
 * list). No process is started but `cat`. Each question marks the snapshot wanted, so the host's
 * supervisor keeps it; that mark's time is the disk's "now" the dates are compared with.
 */
export function snapshotShell(known: { hostKey: string; home: string }): string {
  const q = (p: string) => shQuote(p);
  const wanted = wantedFile(known.home);
  const file = snapshotFile(known.home, known.hostKey);
  const until = untilFile(file);
  const changed = path.join(known.home, 'tasks', CHANGED_FILE);
  // Every file checked to be there first: bash's `A -nt B` is true when B is missing (dash's false).
  const fresh = `[ -f ${q(changed)} ] && [ -f ${q(until)} ] && [ ${q(file)} -nt ${q(changed)} ] && [ ${q(wanted)} -ot ${q(until)} ] && ! [ ${q(file)} -nt ${q(wanted)} ]`;
  // The state dir the host's CLI would use now (store/paths.ts stateHome; `set -u` safe): one its
  // environment names elsewhere since has tasks of its own, and a supervisor still running on the
  // old one would keep that one's snapshot fresh for as long as it is asked. A path written
  // otherwise (relative, `//`) is only a question the CLI answers.
  // Which variable is set is decided before a trailing '/' is cut: '/' names the root, not an unset one.
  return 'if [ -n "${RESILIENT_AGENT_HOME:-}" ]; then ra_h=${RESILIENT_AGENT_HOME%/}; ra_h=${ra_h:-/}; '
    + 'elif [ -n "${XDG_STATE_HOME:-}" ]; then ra_h=${XDG_STATE_HOME%/}/resilient-agent; '
    + 'else ra_h=${HOME:-}; ra_h=${ra_h%/}/.local/state/resilient-agent; fi; '
    // The mark first, whatever else (`>|`: even in a login shell with noclobber set, its rc file's
    // `set -C`); not made (its folder gone, the CLI makes it again): no "now" to judge by, the CLI
    // answers. In a condition, so a shell with `set -e` goes on.
    // Before it, whether an earlier question's mark is past the .until date: that one found it
    // expired, and a clock set back since (by less than its age) would make it look fresh again.
    // Expired it stays, till its supervisor writes it anew (bash's -nt: true with no .until).
    + `if [ ${q(wanted)} -nt ${q(until)} ]; then ra_x=1; else ra_x=0; fi; `
    // `command cat`: not a function or alias of that name from the login shell's rc files (.bashrc, .zshenv).
    + `if { true >|${q(wanted)}; } 2>/dev/null && [ "$ra_x" = 0 ] && [ "$ra_h" = ${q(known.home)} ] && ${fresh} && command cat -- ${q(file)} 2>/dev/null; then exit 0; fi;`;
}
