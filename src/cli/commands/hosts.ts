import fs = require('node:fs');
import { CONTRACT } from '../../core/model/contract';
import { UsageError } from '../../core/model/errors';
import type { RemoteHosts } from '../../core/ops/remote';
import { REMOTE_CLI, REMOTE_LAUNCHER, REMOTE_LOADER } from '../../core/ops/remote';
import { shQuote } from '../../core/platform/ssh';
import type { Host } from '../../core/store/hosts';
import { LOCAL_HOST } from '../../core/store/hosts';
import type { Io } from '../context';
import type { Command } from '../context';
import { HOST_LOADER } from './hostLoader';
import { selfLauncher } from './supervisor';

/**
 * What `hosts install` runs on the host, the bundle on its stdin: the CLI into the user's own
 * folder with its loader (a V8 code cache beside it; the old caches removed), a launcher beside
 * their other programs naming the node found there. No root, no registry; written whole then
 * renamed, so a dropped link leaves the old one working.
 */
const INSTALL_SCRIPT = [
  'set -e',
  'if [ -n "$node" ]; then [ -x "$node" ] || { echo "$node is not a program on this host" >&2; exit 3; }; else',
  '  node=$(command -v node) || { echo "node (Node.js 20 or later) is not on the PATH of ssh commands on this host: install it there, or name it: hosts install NAME --node PATH" >&2; exit 3; }',
  'fi',
  `d="$HOME/${REMOTE_CLI.replace(/\/[^/]*$/, '')}"; b="$HOME/${REMOTE_LAUNCHER.replace(/\/[^/]*$/, '')}"`,
  'mkdir -p "$d" "$b"',
  'cat > "$d/cli.js.new"',
  'chmod 755 "$d/cli.js.new"',
  `printf '%s' ${shQuote(HOST_LOADER)} > "$d/load.js.new"`,
  'mv -f "$d/load.js.new" "$d/load.js"',
  'mv -f "$d/cli.js.new" "$d/cli.js"',
  'rm -f "$d"/cli.js.*.cache',
  // The node's path in single quotes in the launcher, each ' in it written '\\'' (as shQuote does).
  `q=$(printf '%s' "$node" | sed "s/'/'\\\\\\\\''/g")`,
  `printf '#!/bin/sh\\nexec '"'"'%s'"'"' "$HOME/${REMOTE_LOADER}" "$@"\\n' "$q" > "$b/resilient-agent.new"`,
  'chmod 755 "$b/resilient-agent.new"',
  'mv -f "$b/resilient-agent.new" "$b/resilient-agent"',
].join('\n');

/** A quick look at the host itself, whether or not the CLI is there. */
const PROBE_SCRIPT = 'printf "os=%s\\n" "$(uname -sm)"; printf "node=%s\\n" "$(node --version 2>/dev/null)"; printf "tmux=%s\\n" "$(tmux -V 2>/dev/null)"';

interface VersionAnswer {
  contract: number;
  version: string;
  node: string;
  tmux: string | null;
  stateDir: string;
  supervisor: { running: boolean; background: boolean; pid: number | null; unfinished: number };
}

async function check(remote: RemoteHosts, host: Host): Promise<{ ok: boolean; report: Record<string, unknown>; lines: string[] }> {
  const lines: string[] = [];
  const report: Record<string, unknown> = { name: host.name, target: host.target, reachable: false };
  try {
    const probe = await remote.shell(host, PROBE_SCRIPT, { timeoutMs: 30_000 });
    const facts = Object.fromEntries(probe.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    Object.assign(report, { reachable: true, os: facts.os || null, node: facts.node || null, tmux: facts.tmux || null });
    lines.push(`${host.name} (${host.target}): reachable; ${facts.os || 'unknown system'}`);
    lines.push(`  node: ${facts.node || 'not on the PATH of ssh commands'}   tmux: ${facts.tmux || 'MISSING (tasks run in tmux: install it there)'}`);
  } catch (e) {
    lines.push(`${host.name} (${host.target}): ${(e as Error).message}`);
    report.error = (e as Error).message;
    return { ok: false, report, lines };
  }
  try {
    const v = await remote.call(host, ['version', '--json'], { timeoutMs: 30_000 }) as VersionAnswer;
    Object.assign(report, { cli: { version: v.version, contract: v.contract, node: v.node, tmux: v.tmux }, stateDir: v.stateDir, supervisor: v.supervisor });
    lines.push(`  resilient-agent ${v.version} (contract ${v.contract}) on node ${v.node}`);
    lines.push(`  state dir: ${v.stateDir}`);
    lines.push(`  supervisor: ${v.supervisor.running ? `running${v.supervisor.background ? ' in the background' : ''} (pid ${v.supervisor.pid})` : 'none running'}; tasks needing one: ${v.supervisor.unfinished}`);
    return { ok: v.tmux !== null, report, lines };
  } catch (e) {
    report.cli = null;
    report.error = (e as Error).message;
    lines.push(`  ${(e as Error).message}`);
    return { ok: false, report, lines };
  }
}

async function install(remote: RemoteHosts, host: Host, io: Io, version: string, supervisor: boolean, node: string | undefined): Promise<number> {
  const bundle = selfLauncher().cli;
  const code = fs.readFileSync(bundle, 'utf8');
  if (!code.startsWith('#!')) throw new UsageError(`${bundle} is not the single-file CLI bundle (run: npm run build); it cannot be installed on a host`);
  // The node to run it with, when the PATH of ssh commands has none (nvm, a version manager): quoted, as every argument.
  const r = await remote.shell(host, `node=${shQuote(node ?? '')}\n${INSTALL_SCRIPT}`, { input: code, timeoutMs: 300_000 });
  if (r.exitCode !== 0) {
    io.err(`could not install on host ${host.name}: ${r.stderr.trim().split('\n').at(-1) || `exit ${r.exitCode}`}`);
    return 1;
  }
  const v = await remote.call(host, ['version', '--json'], { timeoutMs: 60_000 }) as VersionAnswer;
  io.out(`installed resilient-agent ${v.version} (contract ${v.contract}) on ${host.name}: ~/${REMOTE_CLI}, run by ~/${REMOTE_LAUNCHER} with node ${v.node} (through ~/${REMOTE_LOADER}, a code cache)`);
  if (v.version !== version || v.contract !== CONTRACT) io.err(`warning: ${host.name} answers as ${v.version} (contract ${v.contract}), not ${version}: another resilient-agent comes first on its PATH`);
  if (supervisor) {
    const s = await remote.call(host, ['supervisor', 'install'], { timeoutMs: 60_000 }) as { text?: string };
    if (s?.text) io.out(s.text);
  }
  return 0;
}

/** `hosts add|list|remove|check|install`: the machines reached over ssh. */
export const hostsCommand: Command = {
  spec: {
    positionals: [{ name: 'action', required: true }, { name: 'name', required: false }, { name: 'ssh-target', required: false }],
    flags: { json: 'bool', supervisor: 'bool', node: 'value' },
  },
  async run({ remote, io, json, parsed, version, first: action, second: name }) {
    const target = parsed.positionals[2];
    const needName = () => {
      if (name === undefined) throw new UsageError(`"hosts ${action}" needs <name>`);
      if (parsed.positionals.length > 2 && action !== 'add') throw new UsageError(`unexpected argument "${target}" for "hosts ${action}"`);
    };
    switch (action) {
      case 'add': {
        if (name === undefined || target === undefined) throw new UsageError('"hosts add" needs <name> <ssh-target> (an alias of ~/.ssh/config, user@host, or ssh://user@host:port)');
        const h = remote.registry.add(name, target);
        io.out(`added host ${h.name} (${h.target}); check it: resilient-agent hosts check ${h.name}   put the CLI there: resilient-agent hosts install ${h.name}`);
        return 0;
      }
      case 'list': {
        if (name !== undefined) throw new UsageError(`unexpected argument "${name}" for "hosts list"`);
        const hosts = remote.registry.list().map((h) => {
          const seen = remote.registry.seen(h.name);
          return { name: h.name, target: h.target, addedAt: h.addedAt, seenAt: seen?.at || null, failedAt: seen?.failedAt ?? null, error: seen?.error ?? null };
        });
        const all = [{ name: LOCAL_HOST, target: null, addedAt: null, seenAt: null, failedAt: null, error: null }, ...hosts];
        if (json) {
          io.out(JSON.stringify(all, null, 2));
          return 0;
        }
        const rows = [['HOST', 'SSH TARGET', 'LAST ANSWER'], ...all.map((h) => [h.name, h.target ?? '(this machine)', h.name === LOCAL_HOST ? '-' : lastAnswer(h)])];
        const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
        io.out(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n'));
        return 0;
      }
      case 'remove': {
        needName();
        const h = remote.registry.remove(name);
        io.out(`removed host ${h.name} (${h.target}); its tasks go on there, under its own supervisor`);
        return 0;
      }
      case 'check': {
        needName();
        const r = await check(remote, remote.host(name));
        io.out(json ? JSON.stringify(r.report, null, 2) : r.lines.join('\n'));
        return r.ok ? 0 : 1;
      }
      case 'install': {
        needName();
        return install(remote, remote.host(name), io, version, parsed.flags.get('supervisor') === true, parsed.flags.get('node') as string | undefined);
      }
    }
    throw new UsageError(`unknown hosts action "${action}": use add, list, remove, check or install`);
  },
};

function lastAnswer(h: { seenAt: string | null; failedAt: string | null; error: string | null }): string {
  if (h.failedAt && (!h.seenAt || h.failedAt > h.seenAt)) return `unreachable since ${h.failedAt}: ${h.error}`;
  return h.seenAt ?? 'never asked';
}
