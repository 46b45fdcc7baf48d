import { spawn } from 'node:child_process';
import { CONTRACT } from '../model/contract';
import { shCommand, sshArgv } from '../platform/ssh';
import { prepareControlDir } from '../platform/ssh';
import type { Host } from '../store/hosts';
import type { RemoteHosts } from './remote';
import { FIND_CLI } from './remote';

/** What a stream of a host says: its lines, and when it is up or down (with why). */
export interface FollowHandlers {
  line(host: string, event: Record<string, unknown>): void;
  up?(host: string): void;
  down?(host: string, why: string, retryInMs: number): void;
}

/** The wait before the next try after `failures` failed ones in a row: 1 s doubling, at most 30 s. */
export function backoffMs(failures: number, maxMs = 30_000): number {
  return Math.min(maxMs, 1000 * 2 ** Math.max(0, failures - 1));
}

/**
 * One long-lived ssh per host running its CLI's `events --json`: every line it prints handed on
 * as it comes. A stream that ends or fails is opened again after a backoff (reset once a stream
 * said hello); stops when `signal` aborts.
 */
export async function followHost(remote: RemoteHosts, host: Host, handlers: FollowHandlers, signal: AbortSignal): Promise<void> {
  let failures = 0;
  while (!signal.aborted) {
    const why = await new Promise<string>((resolve) => {
      prepareControlDir(remote.options.home);
      const command = `${FIND_CLI} ${shCommand(['--contract', String(CONTRACT), 'events', '--host', 'local', '--json'])}`;
      const child = spawn('ssh', sshArgv(remote.ssh, host.name, host.target, command), { env: remote.options.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let carry = '';
      let stderr = '';
      const stop = () => child.kill('SIGTERM');
      signal.addEventListener('abort', stop);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
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
            child.kill('SIGTERM');
            stderr = `host ${host.name} streams contract ${String(event.contract)}, this one speaks ${CONTRACT}: resilient-agent hosts install ${host.name}`;
            return;
          }
          if (event.type === 'hello') {
            failures = 0;
            handlers.up?.(host.name);
          }
          handlers.line(host.name, event);
        }
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => (stderr += d));
      child.on('error', (e) => resolve(e.message));
      child.on('close', (code) => {
        signal.removeEventListener('abort', stop);
        resolve(stderr.trim().split('\n').at(-1) || `its stream ended (exit ${code})`);
      });
    });
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
