import { spawn } from 'node:child_process';
import { CONTRACT } from '../model/contract';
import { shCommand, sshArgv } from '../platform/ssh';
import { prepareControlDir } from '../platform/ssh';
import type { Host } from '../store/hosts';
import type { RemoteHosts } from './remote';
import { FIND_CLI } from './remote';

/** How often a host's stream says it is alive (its `events --heartbeat`), in seconds. */
export const STREAM_HEARTBEAT_SECONDS = 1.5;

/** The silence after which a followed host is said unreachable: two heartbeats missed, and a second for the link. */
export function silenceMs(heartbeatSeconds = STREAM_HEARTBEAT_SECONDS): number {
  return (2 * heartbeatSeconds + 1) * 1000;
}

/**
 * A stream silent this long is ended and opened again (ssh's keep-alives end a dead link sooner;
 * this catches a remote CLI that hangs behind a live sshd).
 */
const SILENT_REOPEN_MS = 20_000;

/** What a stream of a host says: its lines, and when it is up or down (with why). */
export interface FollowHandlers {
  line(host: string, event: Record<string, unknown>): void;
  /** The stream said hello, or spoke again after a silence. */
  up?(host: string): void;
  /**
   * The host does not answer: its stream ended or failed (`retryInMs`: when it is opened again),
   * or it went silent past `silenceMs` (`retryInMs` null: the stream is kept, and `up` follows the
   * moment it speaks again).
   */
  down?(host: string, why: string, retryInMs: number | null): void;
}

/** The wait before the next try after `failures` failed ones in a row: 1 s doubling, at most 30 s. */
export function backoffMs(failures: number, maxMs = 30_000): number {
  return Math.min(maxMs, 1000 * 2 ** Math.max(0, failures - 1));
}

/**
 * One long-lived ssh per host running its CLI's `events --json` with a heartbeat every
 * `STREAM_HEARTBEAT_SECONDS`: every line it prints handed on as it comes. A host silent for
 * `silenceMs` (a hung sshd, a link that went dark) is said down at once, without waiting for
 * ssh's keep-alives; a stream that ends or fails is opened again after a backoff (reset once a
 * stream said hello); stops when `signal` aborts.
 */
export async function followHost(remote: RemoteHosts, host: Host, handlers: FollowHandlers, signal: AbortSignal, heartbeatSeconds = STREAM_HEARTBEAT_SECONDS): Promise<void> {
  let failures = 0;
  while (!signal.aborted) {
    const why = await stream(remote, host, handlers, signal, heartbeatSeconds, () => (failures = 0));
    if (signal.aborted) return;
    failures++;
    const wait = backoffMs(failures);
    handlers.down?.(host.name, why, wait);
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, wait);
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }
}

/** One stream, until it ends (resolves with why, for a person). */
function stream(remote: RemoteHosts, host: Host, handlers: FollowHandlers, signal: AbortSignal, heartbeatSeconds: number, hello: () => void): Promise<string> {
  return new Promise<string>((resolve) => {
    prepareControlDir(remote.options.home);
    const command = `${FIND_CLI} ${shCommand(['--contract', String(CONTRACT), 'events', '--host', 'local', '--json', '--heartbeat', String(heartbeatSeconds)])}`;
    const child = spawn('ssh', sshArgv(remote.ssh, host.name, host.target, command), { env: remote.options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const silence = silenceMs(heartbeatSeconds);
    // Before its first word a stream may take a connection's setup and the remote CLI's start.
    const firstWordMs = (remote.ssh.connectTimeoutSeconds ?? 10) * 1000 + silence;
    let carry = '';
    let stderr = '';
    let said = false;
    let silent = false;
    let ended: string | undefined;
    let quiet: NodeJS.Timeout | undefined;
    let reopen: NodeJS.Timeout | undefined;
    let grace: NodeJS.Timeout | undefined;
    const finish = (reason: string) => {
      if (ended !== undefined) return;
      ended = reason;
      clearTimeout(quiet);
      clearTimeout(reopen);
      clearTimeout(grace);
      signal.removeEventListener('abort', stop);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      child.stdout.destroy();
      child.stderr.destroy();
      resolve(reason);
    };
    const lastSaid = () => stderr.trim().split('\n').filter((l) => l.trim()).at(-1);
    // Silence: said down once (the stream kept: a host that wakes speaks on it), reopened if it lasts.
    const listen = (ms: number) => {
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        if (!said) return finish(`no answer in ${(ms / 1000).toFixed(1)} s`);
        silent = true;
        handlers.down?.(host.name, `no word from it for ${(ms / 1000).toFixed(1)} s (it says one every ${heartbeatSeconds} s)`, null);
        reopen = setTimeout(() => finish(`silent for ${((ms + SILENT_REOPEN_MS) / 1000).toFixed(1)} s`), SILENT_REOPEN_MS);
      }, ms);
    };
    const stop = () => finish('stopped');
    signal.addEventListener('abort', stop);
    listen(firstWordMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (ended !== undefined) return;
      const lines = (carry + chunk).split('\n');
      carry = lines.pop() ?? '';
      for (const l of lines) {
        let event: Record<string, unknown>;
        try {
          event = JSON.parse(l);
        } catch {
          continue;
        }
        if (event.contract !== CONTRACT) {
          finish(`host ${host.name} streams contract ${String(event.contract)}, this one speaks ${CONTRACT}: resilient-agent hosts install ${host.name}`);
          return;
        }
        if (event.type === 'hello') {
          said = true;
          hello();
          handlers.up?.(host.name);
        } else if (silent) {
          handlers.up?.(host.name);
        }
        silent = false;
        clearTimeout(reopen);
        if (said) listen(silence);
        handlers.line(host.name, event);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    child.on('error', (e) => finish(e.message));
    // ssh gone: said at once, its last lines read if they come within a moment (a connection
    // master it forked may hold its pipes open long after).
    child.on('exit', (code, sig) => {
      grace = setTimeout(() => finish(lastSaid() || `its stream ended (${sig ?? `exit ${code}`})`), 200);
    });
    child.on('close', (code, sig) => finish(lastSaid() || `its stream ended (${sig ?? `exit ${code}`})`));
  });
}
