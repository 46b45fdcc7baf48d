import fs = require('node:fs');
import { UsageError } from '../../core/model/errors';
import { runAttached } from '../../core/platform/exec';
import { attachArgs } from '../../core/tmux/commands';
import type { Parsed } from '../args';
import type { Command } from '../context';
import { CONTRACT } from '../../core/model/contract';
import { LOCAL_HOST } from '../../core/store/hosts';
import { markWanted } from '../../core/ops/listSnapshot';
import { isInteractive } from '../../core/model/record';
import { fleetJson, fleetOut, statusJson, statusLines, table } from '../format';

const name = { name: 'name', required: true };

export async function readPrompt(parsed: Parsed): Promise<string> {
  const inline = parsed.flags.get('prompt') as string | undefined;
  const file = parsed.flags.get('prompt-file') as string | undefined;
  if (inline !== undefined && file !== undefined) throw new UsageError('give --prompt or --prompt-file, not both');
  if (inline === undefined && file === undefined) throw new UsageError('a prompt is required: --prompt TEXT, --prompt-file FILE or --prompt -');
  if (inline === '-' || file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return text(Buffer.concat(chunks), 'the prompt on stdin');
  }
  if (file !== undefined) {
    let raw: Buffer;
    try {
      raw = fs.readFileSync(file);
    } catch (e) {
      throw new UsageError(`cannot read the prompt file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return text(raw, `the prompt file ${file}`);
  }
  return inline as string;
}

/** What `send` types: its argument, or with --stdin what comes on stdin (how a host is sent it). */
export async function sendText(parsed: Parsed, arg: string | undefined): Promise<string> {
  const fromStdin = parsed.flags.get('stdin') === true;
  if (fromStdin && arg !== undefined) throw new UsageError('give the text or --stdin, not both');
  if (!fromStdin && arg === undefined) throw new UsageError('"send" needs <text> (or --stdin)');
  if (!fromStdin) return arg as string;
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return text(Buffer.concat(chunks), 'the text on stdin');
}

/** The bytes as text, refused rather than silently rewritten when they are not UTF-8. */
function text(raw: Buffer, what: string): string {
  const decoded = raw.toString('utf8');
  if (!Buffer.from(decoded, 'utf8').equals(raw)) throw new UsageError(`${what} is not UTF-8 text: it could not reach the agent byte for byte`);
  return decoded;
}

/** The commands on tasks: start one, look at them, talk to one, resume or kill it. */
export const TASK_COMMANDS: Record<string, Command> = {
  start: {
    spec: {
      positionals: [{ name: 'agent', required: true }, { name: 'name', required: true }],
      flags: { host: 'value', dir: 'value', prompt: 'value', 'prompt-file': 'value', json: 'bool', worktree: 'bool', branch: 'value', now: 'bool', interactive: 'bool' },
    },
    ensuresSupervisor: true,
    async run({ svc, parsed, io, json, first, second }) {
      const interactive = parsed.flags.get('interactive') === true;
      // An interactive task's first prompt is optional: the person may type it in the TUI.
      const asked = parsed.flags.has('prompt') || parsed.flags.has('prompt-file');
      const prompt = interactive && !asked ? '' : await readPrompt(parsed);
      const dir = (parsed.flags.get('dir') as string | undefined) ?? process.cwd();
      const worktree = parsed.flags.get('worktree') === true;
      const branch = parsed.flags.get('branch') as string | undefined;
      const record = await svc.start({ agent: first, name: second, dir, prompt, worktree, branch, now: parsed.flags.get('now') === true, interactive });
      if (json) {
        io.out(JSON.stringify(statusJson(svc.view(record)), null, 2));
      } else if (record.state === 'queued') {
        io.out(`queued ${record.session}: ${(record.stateReason ?? 'waiting for a slot').replace(/^queued: /, '')}; it starts the moment a slot frees`);
        io.out(`see the queue: resilient-agent queue   (start it now anyway: resilient-agent queue start ${record.name})`);
        const note = record.attempts.at(-1)?.note;
        if (note) io.out(note);
      } else {
        const note = record.attempts.at(-1)?.note;
        if (note) io.out(note);
        io.out(`started ${record.session}${interactive ? ' (interactive: its own TUI, you talk to it)' : ''}${record.worktree ? ` in a worktree on branch ${record.worktree.branch} (${record.worktree.path})` : ''}`);
        io.out(`attach: resilient-agent attach ${record.session}   (or: ${[...svc.tmux.baseArgv(), ...attachArgs(record.session)].join(' ')})`);
      }
      return 0;
    },
  },
  list: {
    spec: { positionals: [], flags: { host: 'value', json: 'bool' } },
    ensuresSupervisor: true,
    async run({ svc, io, json, remote, allHosts }) {
      // Every host at once, each within its deadline; this machine's tasks meanwhile.
      let registered = 0;
      try {
        registered = allHosts ? remote.registry.list().length : 0;
      } catch (e) {
        io.err(`hosts not asked: ${(e as Error).message}`); // this machine's tasks are shown all the same
      }
      const others = registered > 0 ? remote.listAll() : undefined;
      const { views, corrupt } = await svc.views();
      for (const c of corrupt) io.err(`unreadable task record ${c.session}: ${c.problem}`);
      // Asked over ssh (ops/remote.ts): this host's supervisor keeps a snapshot the next question reads with cat.
      if (io.meta && !allHosts) {
        markWanted(svc.store.paths.home);
        io.meta({ snapshot: { hostKey: svc.host.key, home: svc.store.paths.home } });
      }
      if (!others) {
        // Without --host each task names its host, as with hosts registered.
        io.out(json ? JSON.stringify(allHosts ? fleetJson([{ host: LOCAL_HOST, tasks: views.map(statusJson) }]) : views.map(statusJson), null, 2) : table(views, Date.now()));
        return 0;
      }
      const answers = [{ host: LOCAL_HOST, tasks: views.map(statusJson) }, ...await others];
      fleetOut(answers, io, json);
      return 0;
    },
  },
  status: {
    spec: { positionals: [name], flags: { host: 'value', json: 'bool' } },
    ensuresSupervisor: true,
    async run({ svc, io, json, first }) {
      const v = await svc.find(first);
      io.out(json ? JSON.stringify(statusJson(v), null, 2) : statusLines(v, Date.now()).join('\n'));
      return 0;
    },
  },
  logs: {
    spec: { positionals: [name], flags: { host: 'value', lines: 'value', raw: 'bool', events: 'bool' } },
    ensuresSupervisor: true,
    async run({ svc, parsed, io, first }) {
      const raw = parsed.flags.get('lines') as string | undefined;
      const lines = raw === undefined ? 200 : Number(raw);
      if (!Number.isInteger(lines) || lines < 1) throw new UsageError(`--lines must be a positive whole number, not "${raw}"`);
      const pane = parsed.flags.get('raw') === true;
      const events = parsed.flags.get('events') === true;
      if (pane && events) throw new UsageError('give --raw or --events, not both');
      io.out(await svc.logs(first, lines, pane ? 'pane' : events ? 'events' : 'transcript'));
      return 0;
    },
  },
  attach: {
    spec: { positionals: [name], flags: { host: 'value' } },
    ensuresSupervisor: true,
    async run({ svc, env, first }) {
      const v = await svc.find(first);
      if (!process.stdin.isTTY) throw new UsageError('attach needs a terminal');
      const clean = { ...env };
      delete clean.TMUX;
      delete clean.TMUX_PANE;
      return runAttached(svc.tmux.executable, [...svc.tmux.baseArgv().slice(1), ...attachArgs(v.session)], clean, 'inherit').catch(() => 1);
    },
  },
  send: {
    spec: { positionals: [name, { name: 'text', required: false }], flags: { host: 'value', stdin: 'bool' } },
    ensuresSupervisor: true,
    async run({ svc, parsed, first, second }) {
      await svc.send(first, await sendText(parsed, second));
      return 0;
    },
  },
  resume: {
    spec: { positionals: [name], flags: { host: 'value', interactive: 'bool' } },
    ensuresSupervisor: true,
    async run({ svc, io, parsed, first }) {
      const record = await svc.resume(first, { interactive: parsed.flags.get('interactive') === true });
      const a = record.attempts[record.attempts.length - 1];
      io.out(`${record.session}: attempt ${a.n} ${a.mode === 'resume' ? `resumes session ${record.agentSessionId}` : 'starts again from the prompt'}${isInteractive(record) ? ' in its TUI (interactive)' : ''}`);
      return 0;
    },
  },
  diff: {
    spec: { positionals: [name], flags: { host: 'value', json: 'bool' } },
    async run({ svc, io, json, first }) {
      const d = await svc.diff(first);
      if (json) {
        io.out(JSON.stringify({ contract: CONTRACT, ...d }, null, 2));
        return 0;
      }
      if (d.diff) io.out(d.diff);
      if (d.untracked.length) io.out(`untracked files:\n${d.untracked.map((f) => `  ${f}`).join('\n')}`);
      if (!d.diff && !d.untracked.length) io.out('no changes');
      return 0;
    },
  },
  continue: {
    spec: { positionals: [name], flags: { host: 'value', prompt: 'value', 'prompt-file': 'value', now: 'bool' } },
    ensuresSupervisor: true,
    async run({ svc, parsed, io, first }) {
      const prompt = await readPrompt(parsed);
      const before = (await svc.find(first)).attempts.length;
      const record = await svc.followUp(first, prompt, parsed.flags.get('now') === true);
      if (record.attempts.length === before) {
        io.out(`${record.session}: typed into its TUI (it was idle at its prompt)`);
        return 0;
      }
      if (record.state === 'queued') {
        io.out(`${record.session}: the follow-up is queued (${(record.stateReason ?? 'waiting for a slot').replace(/^queued: /, '')}); it starts the moment a slot frees`);
        return 0;
      }
      const a = record.attempts[record.attempts.length - 1];
      io.out(`${record.session}: attempt ${a.n} continues session ${record.agentSessionId} with the new prompt`);
      return 0;
    },
  },
  kill: {
    spec: { positionals: [name], flags: { host: 'value', forget: 'bool', force: 'bool' } },
    ensuresSupervisor: true,
    async run({ svc, parsed, io, first }) {
      const forget = parsed.flags.get('forget') === true;
      const force = parsed.flags.get('force') === true;
      if (force && !forget) throw new UsageError('--force only goes with --forget (it discards the worktree\'s uncommitted changes)');
      const r = await svc.kill(first, forget, force);
      io.out(`${r.session}: ${r.queued ? 'taken out of the queue before it started' : r.killed ? 'killed' : 'session was already gone'}${forget ? '; record removed' : '; it will not be resumed'}${r.kept ? `; ${r.kept}` : ''}`);
      return 0;
    },
  },
};
