import fs = require('node:fs');
import { UsageError } from '../../core/model/errors';
import { identified } from '../../core/store/lock';
import type { Launcher, SupervisorStatus } from '../../core/ops/supervisor';
import { startBackgroundSupervisor, stopBackgroundSupervisor, supervisorLog, supervisorStatus } from '../../core/ops/supervisor';
import type { Command } from '../context';
import { installUnit, uninstallUnit } from '../systemd';

/** This CLI, run by the Node that runs it now: how the background supervisor is started. */
export function selfLauncher(): Launcher {
  return { node: process.execPath, cli: fs.realpathSync(require.main?.filename ?? process.argv[1]) };
}

/** `supervisor start|stop|status|install|uninstall`: the background supervisor and its systemd unit. */
export const supervisorCommand: Command = {
  spec: { positionals: [{ name: 'action', required: true }], flags: { json: 'bool' } },
  async run({ svc, json, env, io, first: action }) {
    const describeHolder = (s: SupervisorStatus) => {
      if (s.running && s.holder) {
        const build = [s.holder.version ? `resilient-agent ${s.holder.version}` : '', s.holder.epoch ? `lease epoch ${s.holder.epoch}` : ''].filter(Boolean).join(', ');
        return `${s.holder.owner} (pid ${s.holder.pid}) since ${s.holder.acquiredAt}${build ? ` (${build})` : ''}`;
      }
      return s.stale ? `none: ${s.stale.holder.owner} (pid ${s.stale.holder.pid}) still holds the lease, but ${s.stale.why}; the next command or task start replaces it` : 'none';
    };
    switch (action) {
      case 'start': {
        const { started, status } = await startBackgroundSupervisor(svc, selfLauncher());
        if (!started) io.out(`already supervised by ${describeHolder(status)}`);
        else if (!status.running) io.out('background supervisor started, found no task needing supervision, and exited; it starts again with the next task');
        else io.out(`background supervisor started: ${describeHolder(status)}; log: ${supervisorLog(svc)}`);
        return 0;
      }
      case 'stop': {
        const before = supervisorStatus(svc);
        if (before.background && before.holder && !identified(before.holder)) {
          io.out(`the background supervisor runs where this machine cannot signal it (${before.holder.owner}, host ${before.holder.host}); stop it there`);
          return 1;
        }
        const status = await stopBackgroundSupervisor(svc);
        const h = status.holder;
        io.out(status.background ? `background supervisor stopped (pid ${h?.pid})` : status.running ? `no background supervisor; tasks are supervised by ${describeHolder(status)}` : 'no supervisor was running');
        return 0;
      }
      case 'status': {
        const status = supervisorStatus(svc);
        if (json) {
          io.out(JSON.stringify({ running: status.running, background: status.background, holder: status.holder ?? null, unfinished: status.unfinished, log: supervisorLog(svc), stale: status.stale ?? null }, null, 2));
        } else {
          io.out(`supervisor: ${describeHolder(status)}`);
          io.out(`tasks needing supervision: ${status.unfinished}`);
          if (status.running) io.out(`log: ${supervisorLog(svc)}`);
        }
        return 0;
      }
      case 'install': {
        const r = await installUnit(svc, selfLauncher(), env);
        for (const line of r.lines) io.out(line);
        return r.code;
      }
      case 'uninstall': {
        const r = await uninstallUnit(env, svc);
        for (const line of r.lines) io.out(line);
        return r.code;
      }
    }
    throw new UsageError(`unknown supervisor action "${action}": use start, stop, status, install or uninstall`);
  },
};
