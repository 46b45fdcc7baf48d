import { createHash } from 'node:crypto';
import os = require('node:os');
import path = require('node:path');
import { bootId, pidNamespace } from './processes';

/**
 * The host a task runs on, as far as supervising it goes: the kernel's boot, the pid namespace
 * and the tmux server. Two hosts (or a host and a container) sharing one state dir differ in at
 * least one; only the host that runs a task can see its pane and its processes.
 */
export interface HostIdentity {
  /** A short stable key of boot id, pid namespace, host name and tmux server. */
  key: string;
  /** What a person calls it: the host name. */
  name: string;
}

/** Where a tmux server listens: `$TMUX_TMPDIR/tmux-UID/SOCKET` (tmux's own rule). */
export function tmuxServerPath(socket: string | undefined, env: NodeJS.ProcessEnv): string {
  const uid = process.getuid?.() ?? 0;
  return path.join(env.TMUX_TMPDIR || '/tmp', `tmux-${uid}`, socket || 'default');
}

/**
 * The host name is part of the key only where the kernel's boot and pid namespace cannot be read
 * (no /proc): it changes under a running host (DHCP, a laptop on another network, `hostnamectl`),
 * and a changed key would make this host take its own tasks for another's.
 */
export function hostIdentity(tmuxServer: string): HostIdentity {
  const name = os.hostname();
  const boot = bootId();
  const ns = pidNamespace();
  const parts = boot && ns ? [boot, ns, tmuxServer] : [boot ?? 'no-boot-id', ns ?? 'no-pid-ns', name, tmuxServer];
  const key = createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 12);
  return { key, name };
}
