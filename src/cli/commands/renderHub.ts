import { RenderHub } from '../../core/ops/hub';
import { HUB_IDLE_ENV } from '../../core/ops/hubLaunch';
import { hostIdentity, tmuxServerPath } from '../../core/platform/host';
import { LockManager } from '../../core/store/lock';
import { StatePaths, stateHome } from '../../core/store/paths';
import { UsageError } from '../../core/model/errors';
import { parseArgs } from '../args';

/**
 * `render-hub`: the state dir's one render hub (not for people), started detached by whatever
 * launches an attempt. It shows every running attempt's transcript in its pane and exits when
 * none is left for a while. Runs before any settings are read: a broken config cannot stop it.
 */
export async function renderHubCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseArgs('render-hub', argv, { positionals: [], flags: { host: 'value' } });
  // The host's key as the launcher that started it knows it (it names the tmux server, which the
  // hub, reading no settings, does not know); without one, the tmux server the environment names.
  const hostKey = (parsed.flags.get('host') as string | undefined) ?? hostIdentity(tmuxServerPath(env.RESILIENT_AGENT_TMUX_SOCKET, env)).key;
  if (!/^[0-9a-f]{1,64}$/.test(hostKey)) throw new UsageError('--host is a host key (hex)');
  const paths = new StatePaths(stateHome(env));
  const idle = Number(env[HUB_IDLE_ENV]);
  const hub = new RenderHub({
    paths,
    hostKey,
    locks: new LockManager(paths.locksDir, `render hub pid ${process.pid}`),
    ...(Number.isFinite(idle) && idle > 0 ? { idleMs: idle } : {}),
  });
  // Nothing here is a person's to stop: a hangup or Ctrl-C never reaches a detached hub, and a
  // SIGTERM ends it cleanly (its lock let go; the next launch or pass starts another).
  process.on('SIGTERM', () => hub.stop());
  process.on('SIGHUP', () => undefined);
  process.on('SIGINT', () => undefined);
  await hub.run();
  return 0;
}
