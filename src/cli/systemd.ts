import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import type { Launcher } from '../core/ops/supervisor';
import { writeFileAtomic } from '../core/platform/files';
import { defaultExec } from '../core/platform/exec';
import { resolveExecutable } from '../core/platform/executables';
import type { TaskService } from '../core/ops/service';

export const UNIT_NAME = 'resilient-agent-supervisor.service';

export function unitDir(env: NodeJS.ProcessEnv): string {
  const config = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(config, 'systemd', 'user');
}

/** systemd's quoting for one word of ExecStart= or one Environment= assignment. */
export function systemdQuote(word: string): string {
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$').replace(/\n/g, '\\n')}"`;
}

export function unitText(launcher: Launcher, env: Record<string, string>): string {
  const exec = [launcher.node, launcher.cli, 'monitor', '--background'].map(systemdQuote).join(' ');
  const environment = Object.entries({ ...env, ...(launcher.env ?? {}) })
    .map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`)}`)
    .join('\n');
  return `# Written by "resilient-agent supervisor install"; remove with "resilient-agent supervisor uninstall".
[Unit]
Description=Resilient Coding Agent supervisor (resumes crashed or lost agent tasks)
After=default.target

[Service]
Type=simple
ExecStart=${exec}
${environment}
Restart=on-failure
RestartSec=5

[Install]
WantedBy=default.target
`;
}

/** Folders install made, so uninstall leaves the user's tree exactly as it was. */
function madeDirsFile(svc: TaskService): string {
  return path.join(svc.store.paths.home, 'systemd-made-dirs.json');
}

async function systemctl(args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean; message: string }> {
  const r = await defaultExec('systemctl', ['--user', ...args], env, { timeoutMs: 15_000 }).catch((e: Error) => ({ exitCode: 1, stdout: '', stderr: e.message }));
  return { ok: r.exitCode === 0, message: (r.stderr || r.stdout || '').split('\n')[0].trim() };
}

export async function installUnit(svc: TaskService, launcher: Launcher, env: NodeJS.ProcessEnv): Promise<{ code: number; lines: string[] }> {
  if (!resolveExecutable('systemctl', env)) {
    return {
      code: 1,
      lines: ['systemd is not available here (no systemctl on PATH): nothing was written.',
        'After a reboot, run "resilient-agent supervisor start" (or start any task) to recover lost tasks.'],
    };
  }
  const dir = unitDir(env);
  const made: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) made.unshift(d);
  fs.mkdirSync(dir, { recursive: true });
  svc.store.init();
  if (made.length) fs.writeFileSync(madeDirsFile(svc), JSON.stringify(made), { mode: 0o600 });
  const file = path.join(dir, UNIT_NAME);
  const unitEnv: Record<string, string> = { RESILIENT_AGENT_HOME: svc.store.paths.home, PATH: env.PATH ?? '/usr/bin:/bin' };
  if (svc.settings.tmuxSocket) unitEnv.RESILIENT_AGENT_TMUX_SOCKET = svc.settings.tmuxSocket;
  writeFileAtomic(file, unitText(launcher, unitEnv));
  fs.chmodSync(file, 0o644);
  const lines = [`wrote ${file}`, `  ExecStart: ${launcher.node} ${launcher.cli} monitor --background`];
  const reload = await systemctl(['daemon-reload'], env);
  const enable = reload.ok ? await systemctl(['enable', UNIT_NAME], env) : reload;
  if (enable.ok) {
    lines.push(`enabled: the supervisor starts at login (and at boot with "loginctl enable-linger ${os.userInfo().username}")`);
  } else {
    lines.push(`systemd could not enable it now (${enable.message || 'no user service manager'}):`,
      `  run "systemctl --user enable --now ${UNIT_NAME}" in a session where systemd runs`);
  }
  lines.push('undo: resilient-agent supervisor uninstall');
  return { code: 0, lines };
}

export async function uninstallUnit(env: NodeJS.ProcessEnv, svc?: TaskService): Promise<{ code: number; lines: string[] }> {
  const file = path.join(unitDir(env), UNIT_NAME);
  if (!fs.existsSync(file)) return { code: 0, lines: [`nothing to remove: ${file} does not exist`] };
  if (resolveExecutable('systemctl', env)) await systemctl(['disable', UNIT_NAME], env);
  fs.rmSync(file);
  const lines = [`removed ${file}`];
  if (svc) {
    try {
      const made = JSON.parse(fs.readFileSync(madeDirsFile(svc), 'utf8')) as string[];
      for (const d of [...made].reverse()) {
        if (fs.existsSync(d) && fs.readdirSync(d).length === 0) fs.rmdirSync(d);
      }
      fs.rmSync(madeDirsFile(svc), { force: true });
    } catch {
      /* install made no folder */
    }
  }
  if (resolveExecutable('systemctl', env)) await systemctl(['daemon-reload'], env);
  return { code: 0, lines };
}
