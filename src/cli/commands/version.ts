import { CONTRACT } from '../../core/model/contract';
import { supervisorStatus } from '../../core/ops/supervisor';
import type { Command } from '../context';

/**
 * `version [--json]`: this CLI, the contract it speaks, and what it runs with (node, tmux, the state
 * dir, the supervisor): what `hosts check` asks a host.
 */
export const versionCommand: Command = {
  spec: { positionals: [], flags: { json: 'bool' } },
  async run({ svc, version, home, io, json }) {
    let tmux: string | null = null;
    try {
      tmux = await svc.tmux.version();
    } catch {
      tmux = null;
    }
    const s = supervisorStatus(svc);
    const supervisor = { running: s.running, background: s.background, pid: s.holder?.pid ?? null, owner: s.holder?.owner ?? null, unfinished: s.unfinished };
    const answer = { contract: CONTRACT, version, node: process.version, tmux, stateDir: home, platform: `${process.platform} ${process.arch}`, supervisor };
    if (json) {
      io.out(JSON.stringify(answer, null, 2));
      return 0;
    }
    io.out(`resilient-agent ${version} (contract ${CONTRACT})`);
    io.out(`node ${process.version}, ${tmux ?? 'tmux: MISSING'}`);
    io.out(`state dir: ${home}`);
    io.out(`supervisor: ${s.running ? `${s.holder?.owner ?? 'running'}${s.holder ? ` (pid ${s.holder.pid})` : ''}` : 'none'}; tasks needing one: ${s.unfinished}`);
    return 0;
  },
};
