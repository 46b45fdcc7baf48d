import { UsageError } from '../../core/model/errors';
import { runAttached } from '../../core/platform/exec';
import type { Logger } from '../../core/platform/log';
import type { LockHolder } from '../../core/store/lock';
import { identified } from '../../core/store/lock';
import type { StateChange } from '../../core/ops/monitor';
import { Monitor, needsSupervision } from '../../core/ops/monitor';
import { BACKGROUND_OWNER } from '../../core/ops/supervisor';
import type { Command } from '../context';

function onChangeRunner(program: string[], logger: Logger): (c: StateChange) => Promise<void> {
  return async (c) => {
    const env = {
      ...process.env,
      RESILIENT_AGENT_TASK: c.name,
      RESILIENT_AGENT_SESSION: c.session,
      RESILIENT_AGENT_AGENT: c.agent,
      RESILIENT_AGENT_OLD_STATE: c.from,
      RESILIENT_AGENT_NEW_STATE: c.to,
      RESILIENT_AGENT_REASON: c.reason ?? '',
    };
    let said: string | undefined;
    try {
      const code = await runAttached(program[0], program.slice(1), env, 'ignore');
      if (code !== 0) said = `exit ${code}`;
    } catch (e) {
      said = (e as Error).message;
    }
    if (said) logger.warn(`--on-change ${program[0]} for ${c.session}: ${said}`);
  };
}

/** `monitor`: supervise in the foreground (`--once`: one pass); `--background` is the detached supervisor. */
export const monitorCommand: Command = {
  spec: { positionals: [], flags: { once: 'bool', interval: 'value', 'on-change': 'rest', background: 'bool' } },
  async run({ svc, settings, parsed, io, logger }) {
    const raw = parsed.flags.get('interval') as string | undefined;
    let intervalMs = settings.intervalMs;
    if (raw !== undefined) {
      const seconds = Number(raw);
      if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--interval must be a positive number of seconds, not "${raw}"`);
      intervalMs = seconds * 1000;
    }
    const program = parsed.flags.get('on-change') as string[] | undefined;
    const background = parsed.flags.get('background') === true;
    const pending = new Set<Promise<void>>();
    const run = program ? onChangeRunner(program, logger) : undefined;
    let idle: (() => void) | undefined;
    let redundant: ((leader: number) => void) | undefined;
    let superseded: ((by: LockHolder) => void) | undefined;
    const monitor = new Monitor(svc, {
      intervalMs,
      onChange: (c) => {
        const line = `${c.session}: ${c.from} -> ${c.to}${c.reason ? ` (${c.reason})` : ''}`;
        // The background supervisor's output goes nowhere: its log is where a change is announced.
        if (background) logger.info(line);
        else io.out(line);
        if (!run) return;
        const p = run(c).finally(() => pending.delete(p));
        pending.add(p);
      },
      onPass: (r) => {
        if (background && r.leader && r.unfinished === 0) idle?.();
        // Started beside another (two windows, a CLI command racing one): one background
        // supervisor is enough, and `supervisor stop` must leave none to take over.
        // Only a live one: a holder killed -9 still names itself in the lock until it is taken over.
        if (background && !r.leader && r.deferredTo?.owner.startsWith(BACKGROUND_OWNER) && identified(r.deferredTo)) redundant?.(r.deferredTo.pid);
        // A newer build leads this host's tasks (an upgrade): this one hands over to it.
        if (background && r.supersededBy) superseded?.(r.supersededBy);
      },
      onError: (e) => logger.error((e as Error).message),
    });
    if (parsed.flags.get('once') === true) {
      await monitor.pass('once');
      monitor.resign();
      await new Promise((r) => setImmediate(r));
      await Promise.all(pending);
      return 0;
    }
    await new Promise<void>((resolve) => {
      const stop = () => {
        monitor.stop();
        resolve();
      };
      // The background supervisor exits when nothing is left to watch. It gives up the lock
      // first and looks once more, so a task started meanwhile is never left unsupervised.
      idle = () => {
        monitor.resign();
        if (svc.store.list().records.some(needsSupervision)) return;
        logger.info('no unfinished task left: the background supervisor exits');
        stop();
      };
      superseded = (by) => {
        logger.info(`a newer resilient-agent (${by.version ?? `record version ${by.recordVersion}`}, pid ${by.pid}) supervises this host's tasks: this one hands over and exits`);
        stop();
      };
      redundant = (leader) => {
        logger.info(`another background supervisor (pid ${leader}) supervises this state dir: this one exits`);
        stop();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // A hangup (a closed terminal, a dropped SSH link) stops a monitor someone runs by hand,
      // never the background supervisor: it exists to outlive them.
      if (background) process.on('SIGHUP', () => logger.info('hangup ignored: the background supervisor keeps supervising'));
      else process.once('SIGHUP', stop);
      monitor.start();
    });
    await Promise.all(pending);
    return 0;
  },
};
