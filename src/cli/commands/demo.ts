import { randomBytes } from 'node:crypto';
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { UsageError } from '../../core/model/errors';
import type { TaskRecord } from '../../core/model/record';
import { Monitor } from '../../core/ops/monitor';
import { TaskService } from '../../core/ops/service';
import { ADAPTERS } from '../../core/agents/registry';
import { eventsHead, readRunnerPid } from '../../core/store/attempt';
import type { Command } from '../context';
import { selfLauncher } from './supervisor';

/** The demo agent ships next to the CLI's bundle (dist/demo-agent.js). */
function demoAgentScript(): string {
  const here = path.dirname(fs.realpathSync(require.main?.filename ?? process.argv[1]));
  const script = path.join(here, 'demo-agent.js');
  if (!fs.existsSync(script)) throw new UsageError(`the demo agent is missing (${script}): build with npm run build`);
  return script;
}

/**
 * `demo`: the whole promise in under a minute, for real. A task with the demo agent (it stands in
 * for codex, with codex's contract, no network and no key) runs in the person's own tmux and state
 * dir; a few steps in it is killed with -9 mid-reply, as a crash would; the supervisor notices and
 * resumes it by its exact session id until it is done. Then everything it made goes, unless --keep.
 */
export const demoCommand: Command = {
  spec: { positionals: [], flags: { dir: 'value', keep: 'bool' } },
  async run({ settings, home, env, parsed, io, logger }) {
    const keep = parsed.flags.get('keep') === true;
    const given = parsed.flags.get('dir') as string | undefined;
    if (given !== undefined && !fs.statSync(given, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`folder not found: ${given}`);
    const script = demoAgentScript();
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'resilient-agent-demo-'));
    const dir = given ? path.resolve(given) : fs.mkdtempSync(path.join(scratch, 'project-'));
    // The demo agent is reached through a one-line wrapper, in codex's place for this task only.
    const agent = path.join(scratch, 'demo-agent');
    fs.writeFileSync(agent, `#!/bin/sh\nexec '${process.execPath.replace(/'/g, "'\\''")}' '${script.replace(/'/g, "'\\''")}' "$@"\n`, { mode: 0o755 });
    const demo = { ...settings, agents: { ...settings.agents, codex: { executable: agent, modeArgs: [], extraArgs: [] } } };
    const svc = new TaskService({ home, settings: demo, env, logger, owner: `cli demo pid ${process.pid}`, launcher: selfLauncher() });
    const t0 = Date.now();
    const say = (line: string) => io.out(`${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s  ${line}`);
    const name = `demo-${randomBytes(2).toString('hex')}`;
    // Supervised as every task is: by whichever supervisor leads (this process, if none runs).
    const monitor = new Monitor(svc, { intervalMs: settings.intervalMs, onError: (e) => logger.warn((e as Error).message) });
    let record: TaskRecord | undefined;
    // Ctrl-C (or a kill) during the demo still cleans up: the demo never leaves a task behind unasked.
    let interrupted: (() => void) | undefined;
    const stopped = new Promise<never>((_, reject) => {
      interrupted = () => reject(new UsageError('the demo was interrupted; cleaning up'));
    });
    stopped.catch(() => undefined);
    const onSignal = () => interrupted?.();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const until = <T>(check: () => T | undefined | null | false, timeoutMs: number, what: string) => Promise.race([poll(check, timeoutMs, what), stopped]);
    try {
      record = await svc.start({ agent: 'codex', name, dir, prompt: 'Count to ten, one step at a time (a demo).' });
      monitor.start();
      say(`started ${record.session}: the demo agent (no network, no key) in ${dir}`);
      io.out(`        watch it: resilient-agent attach ${record.session}   (detach: Ctrl-b d)`);
      const session = record.session;
      const events = path.join(svc.store.paths.attemptDir(session, 1), 'events.jsonl');
      await until(() => fs.existsSync(events) && fs.readFileSync(events, 'utf8').includes('step 3 of'), 30_000, 'the demo agent to reach step 3');
      // The id as the supervisor reads it: from the agent's first events.
      const id = await until(() => ADAPTERS.codex.sessionIdFromEvents(eventsHead(svc.store.paths.attemptDir(session, 1))), 10_000, 'its session id');
      const pid = readRunnerPid(svc.store.paths.attemptDir(session, 1));
      if (pid === null) throw new Error('the demo agent\'s runner did not say its pid');
      process.kill(-pid, 'SIGKILL');
      const crashedAt = Date.now();
      say(`crashed: killed with -9 mid-reply (step 3 of 10), as the OOM killer would; session ${id}`);
      const second = await until(() => {
        const r = svc.store.get(session);
        return r && r.attempts.length >= 2 ? r : undefined;
      }, 60_000, 'the supervisor to resume it');
      const a2 = second.attempts[1];
      say(`noticed by the supervisor and resumed ${Date.parse(a2.startedAt) - crashedAt} ms after the crash: attempt 2, ${a2.mode === 'resume' ? `its own resume command with the exact session id ${second.agentSessionId}` : 'started again from its prompt'}`);
      const done = await until(() => {
        const r = svc.store.get(session);
        return r && (r.state === 'done' || r.state === 'held' || r.state === 'gave-up') ? r : undefined;
      }, 60_000, 'the demo task to finish');
      say(done.state === 'done' ? 'done: it went on from where it stopped, and finished' : `${done.state}: ${done.stateReason}`);
      return done.state === 'done' && a2.mode === 'resume' && second.agentSessionId === id ? 0 : 1;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      monitor.stop();
      if (record && !keep) {
        const id = svc.store.get(record.session)?.agentSessionId ?? null;
        await svc.kill(record.session, true).catch(() => undefined);
        if (!given) fs.rmSync(dir, { recursive: true, force: true });
        else removeDemoSession(dir, id);
        fs.rmSync(scratch, { recursive: true, force: true });
        io.out('        cleaned up: its session, record and folder are gone (--keep keeps them)');
      } else if (record) {
        io.out(`        kept: resilient-agent status ${record.session}; remove it with resilient-agent kill ${record.session} --forget, and ${scratch}`);
      } else {
        fs.rmSync(scratch, { recursive: true, force: true });
      }
    }
  },
};

/** Only this demo's own session file in a folder the person gave: nothing else there is ours. */
function removeDemoSession(dir: string, id: string | null): void {
  const store = path.join(dir, '.resilient-agent-demo');
  if (id) fs.rmSync(path.join(store, `${id}.json`), { force: true });
  try {
    fs.rmdirSync(store); // only when empty
  } catch {
    /* other demos' files, or the person's: kept */
  }
}

async function poll<T>(check: () => T | undefined | null | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`the demo timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
