import { UsageError } from '../../core/model/errors';
import { AGENT_IDS } from '../../core/model/names';
import { queueSummary, writeLimits } from '../../core/ops/queue';
import type { Limits } from '../../core/decide/admission';
import type { Command } from '../context';
import { statusJson } from '../format';

/** The limits in one line, as `queue` and `queue limits` say them. */
function limitsText(l: Limits, running: number, free: string | undefined): string {
  const agents = AGENT_IDS.filter((a) => l.perAgent[a] !== undefined).map((a) => `${a} ${l.perAgent[a]}`);
  return `limits: ${running} of ${l.maxRunning} running${agents.length ? ` (per agent: ${agents.join(', ')})` : ''}; a start needs ${l.minFreeMemoryMb} MB free${free ? ` (${free} free now)` : ''}`;
}

function positiveWhole(flag: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} must be a whole number of at least 1 (got "${raw}")`);
  return n;
}

/** `codex=2,claude=1` (or `none`): the per-agent limits. */
function perAgent(raw: string): Record<string, number> {
  if (raw === 'none') return {};
  const out: Record<string, number> = {};
  for (const part of raw.split(',')) {
    const m = /^([a-z]+)=(.*)$/.exec(part.trim());
    if (!m) throw new UsageError(`--per-agent takes AGENT=N pairs separated by commas, or none (got "${raw}")`);
    if (!(AGENT_IDS as readonly string[]).includes(m[1])) throw new UsageError(`--per-agent: unknown agent "${m[1]}": choose among ${AGENT_IDS.join(', ')}`);
    out[m[1]] = positiveWhole(`per-agent ${m[1]}`, m[2]);
  }
  return out;
}

/**
 * `queue [--json]`, `queue start NAME`, `queue move NAME POSITION`, `queue limits [...]`: the starts
 * waiting for a free slot on this machine, and the limits that make them wait.
 */
export const queueCommand: Command = {
  spec: {
    positionals: [{ name: 'action', required: false }, { name: 'name', required: false }, { name: 'position', required: false }],
    flags: { json: 'bool', 'max-running': 'value', 'per-agent': 'value', 'min-free-memory-mb': 'value' },
  },
  ensuresSupervisor: true,
  async run({ svc, parsed, io, json, first: action, second: name }) {
    const limitFlags = ['max-running', 'per-agent', 'min-free-memory-mb'].filter((f) => parsed.flags.has(f));
    if (limitFlags.length && action !== 'limits') throw new UsageError(`--${limitFlags[0]} goes with "queue limits"`);
    const needName = (what: string) => {
      if (!name) throw new UsageError(`"queue ${what}" needs <name>`);
      return name;
    };
    if (action !== 'move' && parsed.positionals.length > (action === 'start' ? 2 : 1)) throw new UsageError(`unexpected argument "${parsed.positionals.at(-1)}" for "queue ${action}"`);
    switch (action) {
      case undefined:
      case 'list': {
        const { views } = await svc.views();
        const queued = views.filter((v) => v.state === 'queued' && v.queue).sort((a, b) => a.queue!.place - b.queue!.place);
        const s = queueSummary(svc);
        if (json) {
          io.out(JSON.stringify({ limits: s.limits, running: s.running, free: s.free ?? null, queued: queued.map(statusJson) }, null, 2));
          return 0;
        }
        io.out(limitsText(s.limits, s.running, s.free));
        io.out(queued.length === 0 ? 'nothing queued' : queued.map((v) => `${String(v.queue!.place).padStart(3)}. ${v.session}  ${v.reason ?? ''}`).join('\n'));
        return 0;
      }
      case 'start': {
        const record = await svc.startQueuedNow(needName('start'));
        const a = record.attempts[record.attempts.length - 1];
        io.out(`${record.session}: started now${a?.note ? ` (${a.note})` : ''}`);
        return 0;
      }
      case 'move': {
        const raw = parsed.positionals[2];
        if (raw === undefined) throw new UsageError('"queue move" needs <name> <position> (1: the next to start)');
        const place = await svc.moveQueued(needName('move'), positiveWhole('position', raw));
        io.out(`${name}: place ${place} in the queue`);
        return 0;
      }
      case 'limits': {
        const change: Record<string, unknown> = {};
        const max = parsed.flags.get('max-running') as string | undefined;
        const agents = parsed.flags.get('per-agent') as string | undefined;
        const mem = parsed.flags.get('min-free-memory-mb') as string | undefined;
        if (max !== undefined) change['queue.maxRunning'] = positiveWhole('max-running', max);
        if (agents !== undefined) change['queue.maxRunningPerAgent'] = perAgent(agents);
        if (mem !== undefined) change['queue.minFreeMemoryMB'] = positiveWhole('min-free-memory-mb', mem);
        if (Object.keys(change).length) writeLimits(svc, change);
        const s = queueSummary(svc);
        io.out(json ? JSON.stringify(s.limits, null, 2) : limitsText(s.limits, s.running, s.free));
        return 0;
      }
      default:
        throw new UsageError(`unknown queue action "${action}": list, start, move or limits`);
    }
  },
};
