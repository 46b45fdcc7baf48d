import fs = require('node:fs');
import { adapterFor } from '../../core/agents/registry';
import { AGENT_IDS } from '../../core/model/names';
import { defaultExec } from '../../core/platform/exec';
import { resolveExecutable } from '../../core/platform/executables';
import type { Command } from '../context';

/** `doctor`: what this machine has (tmux, the state dir, each agent and its version). */
export const doctorCommand: Command = {
  spec: { positionals: [], flags: {} },
  async run({ svc, settings, home, env, io }) {
    let ok = true;
    try {
      io.out(`tmux: ${await svc.tmux.version()} (socket: ${settings.tmuxSocket || 'default'})`);
    } catch (e) {
      ok = false;
      io.out(`tmux: MISSING: ${(e as Error).message}`);
    }
    try {
      svc.store.init();
      fs.accessSync(home, fs.constants.W_OK);
      const mode = fs.statSync(home).mode & 0o777;
      io.out(`state dir: ${home} (writable, mode ${mode.toString(8)})${mode & 0o077 ? ' — others can read it: prompts and environments are kept there; chmod 700 it' : ''}`);
    } catch (e) {
      ok = false;
      io.out(`state dir: ${home}: NOT WRITABLE: ${(e as Error).message}`);
    }
    for (const agent of AGENT_IDS) {
      const exe = settings.agents[agent].executable;
      const found = resolveExecutable(exe, env);
      if (!found) {
        io.out(`${agent}: not found on PATH (${adapterFor(agent).displayName}; set agents.${agent}.executable if it lives elsewhere)`);
        continue;
      }
      const r = await defaultExec(found, ['--version'], env, { timeoutMs: 15_000 }).catch(() => ({ stdout: '', stderr: '' }));
      const version = (r.stdout || r.stderr || '').split('\n')[0].trim();
      io.out(`${agent}: ${found}${version ? ` (${version})` : ''}`);
    }
    io.out(`node: ${process.version}`);
    return ok ? 0 : 1;
  },
};
