import { CONTRACT } from '../../core/model/contract';
import { UsageError } from '../../core/model/errors';
import { watchViews } from '../../core/ops/events';
import { followHost } from '../../core/ops/follow';
import { LOCAL_HOST } from '../../core/store/hosts';
import type { Command } from '../context';
import { statusJson } from '../format';

/** A line for a person from an event of the stream. */
function words(e: Record<string, unknown>): string | undefined {
  const host = String(e.hostName);
  if (e.type === 'change') return `${host} ${String(e.session)}: ${String(e.from ?? 'new')} -> ${String(e.to ?? 'gone')}${e.reason ? ` (${String(e.reason)})` : ''}`;
  if (e.type === 'host') {
    if (e.reachable) return `${host}: connected`;
    return `${host}: unreachable (${String(e.error)}); ${e.retryInMs === null ? 'waiting for it to speak again' : `trying again in ${Math.round(Number(e.retryInMs) / 1000)} s`}`;
  }
  return undefined;
}

/**
 * `events [--json] [--host NAME] [--heartbeat SECONDS]`: every task's state changes as they happen,
 * one line each, until stopped; a heartbeat line every SECONDS (15 by default; a host's stream is
 * asked for one every 1.5 s). Without --host: this machine and every host, each over one
 * long-lived ssh stream that is opened again with a backoff when it drops; a host silent for two
 * heartbeats and a second is said unreachable at once. The first line of each host (`hello`) lists its tasks.
 */
export const eventsCommand: Command = {
  spec: { positionals: [], flags: { json: 'bool', host: 'value', heartbeat: 'value' } },
  streams: true,
  async run({ svc, remote, io, json, parsed, version }) {
    const only = parsed.flags.get('host') as string | undefined;
    const heartbeatMs = Number(parsed.flags.get('heartbeat') ?? 15) * 1000;
    if (!(heartbeatMs > 0)) throw new UsageError('--heartbeat is a number of seconds');
    const abort = new AbortController();
    const { signal } = abort;
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // A reader gone (the ssh link dropped): stop, or this would watch for nobody.
    process.stdout.on('error', stop);
    const emit = (e: Record<string, unknown>) => {
      if (signal.aborted) return;
      if (json) io.out(JSON.stringify({ contract: CONTRACT, ...e }));
      else {
        const w = words(e);
        if (w) io.out(w);
      }
    };
    const beat = setInterval(() => emit({ type: 'heartbeat', hostName: LOCAL_HOST, at: new Date().toISOString() }), heartbeatMs);
    const streams: Promise<void>[] = [];
    if (only === undefined || only === LOCAL_HOST) {
      streams.push(watchViews(svc.store.paths.home, async () => (await svc.views()).views, (changes, views) => {
        if (changes.length === 0) {
          emit({ type: 'hello', hostName: LOCAL_HOST, version, at: new Date().toISOString(), tasks: views.map(statusJson) });
          return;
        }
        for (const c of changes) emit({ type: 'change', hostName: LOCAL_HOST, at: new Date().toISOString(), session: c.session, from: c.from, to: c.to, reason: c.reason, task: c.view ? statusJson(c.view) : null });
      }, signal));
    }
    const hosts = only === undefined ? remote.registry.list() : only === LOCAL_HOST ? [] : [remote.host(only)];
    for (const host of hosts) {
      streams.push(followHost(remote, host, {
        line: (name, e) => {
          if (e.type !== 'heartbeat') emit({ ...e, hostName: name });
        },
        up: (name) => emit({ type: 'host', hostName: name, reachable: true, at: new Date().toISOString() }),
        down: (name, why, retryInMs) => emit({ type: 'host', hostName: name, reachable: false, error: why, retryInMs, at: new Date().toISOString() }),
      }, signal));
    }
    try {
      await Promise.all(streams);
    } finally {
      clearInterval(beat);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  },
};
