// 8. list over hosts (OpenSSH), and a remote change -> its event here
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, waitFor } from '../../integration/harness';
import { SshWorld } from '../../integration/sshd';
import type { SshHost } from '../../integration/sshd';
import { children, cleanupWorld, newWorld, startSleepTasks } from '../world';
import { log, median, ms, nowMs, p95, ratio, timeArgv, yes } from '../helpers';
import type { Section } from '../report';

const SLEEP_CODEX = '#!/bin/sh\nprintf \'{"type":"thread.started","thread_id":"bench-%s"}\\n\' "$$"\nexec sleep 100000\n';

/** CPU (user + system, its children's) and wall time of one run of `argv`, each a mean over `n` runs in a shell loop. */
function cost(argv: string[], env: NodeJS.ProcessEnv, n = 20): { cpu: number; wall: number } {
  const q = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
  const r = spawnSync('bash', ['-c', `s=$(date +%s%N); for i in $(seq ${n}); do ${argv.map(q).join(' ')} >/dev/null 2>&1; done; e=$(date +%s%N); echo $(( (e-s)/1000 )); times`], { env, encoding: 'utf8' });
  const lines = r.stdout.trim().split('\n');
  const sec = (t: string) => {
    const m = /(\d+)m([\d.]+)s/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  };
  const [user, sys] = (lines[2] ?? '').trim().split(/\s+/).map(sec);
  return { cpu: ((user + sys) * 1000) / n, wall: Number(lines[0]) / 1000 / n };
}

/**
 * `resilient-agent list` with 1, 3 and 5 hosts registered (real sshd on loopback, warm shared
 * connections), each host with `perHost` sleeping tasks, beside `list` of this machine alone with as
 * many; then the time from a state change on a host (a kill there) to its line in `events --json` here.
 */
export async function measureHosts(runs = 20, perHost = 10, changes = 10): Promise<Section> {
  const w = newWorld({ sleepAgents: true });
  const world = new SshWorld(w.h);
  const env = { ...w.env, RESILIENT_AGENT_SSH_CONFIG: w.h.env.RESILIENT_AGENT_SSH_CONFIG };
  const cli = (args: string[]) => timeArgv(process.execPath, [CLI, ...args], env);
  const hosts: SshHost[] = [];
  try {
    await startSleepTasks(w, Array.from({ length: perHost }, (_, i) => `l${i}`));
    for (const name of ['h1', 'h2', 'h3', 'h4', 'h5']) {
      const host = await world.host(name);
      // Supervised there as by default: its background supervisor (which keeps its list snapshot).
      fs.writeFileSync(path.join(host.state, 'config.json'), '{}');
      fs.writeFileSync(path.join(host.bin, 'codex'), SLEEP_CODEX, { mode: 0o755 });
      hosts.push(host);
      for (const args of [['hosts', 'add', name, name], ['hosts', 'install', name]]) {
        const r = await cli(args);
        if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}`);
      }
      fs.mkdirSync(path.join(host.dir, 'p'), { recursive: true });
      for (let i = 0; i < perHost; i++) {
        const r = await cli(['start', 'codex', `r${i}`, '--host', name, '--dir', path.join(host.dir, 'p'), '--prompt', 'bench']);
        if (r.code !== 0) throw new Error(`start on ${name} exited ${r.code}`);
      }
      log(`host ${name}: ${perHost} tasks`);
    }
    const registered = (n: number) => {
      const file = path.join(w.h.home, 'hosts.json');
      const all = JSON.parse(fs.readFileSync(`${file}.all`, 'utf8'));
      fs.writeFileSync(file, JSON.stringify({ ...all, hosts: all.hosts.slice(0, n) }));
    };
    fs.copyFileSync(path.join(w.h.home, 'hosts.json'), path.join(w.h.home, 'hosts.json.all'));
    // Each host's launcher as `hosts install` wrote it (through the loader and its code cache), or
    // as it was before (node on cli.js): the two measured side by side, interleaved.
    const launcher = (h: SshHost) => path.join(h.home, '.local/bin/resilient-agent');
    const withCache = new Map(hosts.map((h) => [h, fs.readFileSync(launcher(h), 'utf8')]));
    const useLauncher = (cached: boolean) => {
      for (const h of hosts) fs.writeFileSync(launcher(h), cached ? withCache.get(h)! : withCache.get(h)!.replace('/load.js"', '/cli.js"'), { mode: 0o755 });
    };
    const counts = [0, 1, 3, 5];
    const times = new Map<number, number[]>(counts.map((c) => [c, []]));
    const before = new Map<number, number[]>([[1, []], [5, []]]);
    const viaCli = new Map<number, number[]>([[1, []], [5, []]]);
    // Each host's list snapshot (written by its supervisor) made stale: a record change it does not hold.
    const changed = (h: SshHost) => path.join(h.state, 'tasks', '.changed');
    const stale = () => {
      for (const h of hosts) fs.writeFileSync(changed(h), 'bench\n');
    };
    const snapshotOf = (h: SshHost) => {
      const dir = path.join(h.state, 'snapshots');
      const f = fs.existsSync(dir) ? fs.readdirSync(dir).find((n) => /^list@.*\.json$/.test(n)) : undefined;
      return f ? fs.statSync(path.join(dir, f)).mtimeMs : undefined;
    };
    const fresh = () => waitFor(() => hosts.every((h) => {
      const at = snapshotOf(h);
      return at !== undefined && at > fs.statSync(changed(h)).mtimeMs && Date.now() - at < 3000;
    }), 'every host\'s list snapshot fresh', 20_000);
    const timeList = async (c: number, into: Map<number, number[]>) => {
      registered(c);
      // Every way but the snapshot's: made stale right before (its supervisor renews it every 2 s).
      if (into !== times) stale();
      const r = await cli(['list']);
      const rows = r.stdout.split('\n').filter((l) => /codex-[lr]\d/.test(l)).length;
      if (r.code !== 0 || rows !== perHost * (c + 1)) throw new Error(`list with ${c} hosts: exit ${r.code}, ${rows} rows`);
      into.get(c)!.push(r.ms);
    };
    for (const c of counts) { // warm every connection and the page cache
      registered(c);
      await cli(['list']);
    }
    // Bounds, not the product: each host's launcher replaced by a stand-in printing the answer its
    // list gave, with a Node start (what no remote list can go below while it is a Node process), or with cat.
    const answers = new Map(hosts.map((h) => {
      const file = path.join(h.dir, 'answer.json');
      fs.writeFileSync(file, spawnSync(process.execPath, [path.join(h.home, '.local/share/resilient-agent/load.js'), '--contract', '1', 'list', '--host', 'local', '--json'], { env: { ...process.env, ...h.sessionEnv } }).stdout);
      return [h, file];
    }));
    const standIns = { node: new Map<number, number[]>([[1, []], [5, []]]), cat: new Map<number, number[]>([[1, []], [5, []]]) };
    const useStandIn = (kind: 'node' | 'cat') => {
      for (const h of hosts) {
        const q = `'${answers.get(h)!.replaceAll("'", "'\\''")}'`;
        const line = kind === 'cat' ? `exec cat ${q}` : `exec ${process.execPath} -e 'process.stdout.write(require("fs").readFileSync(process.argv[1]))' ${q}`;
        fs.writeFileSync(launcher(h), `#!/bin/sh\n${line}\n`, { mode: 0o755 });
      }
    };
    for (let i = 0; i < runs; i++) {
      await fresh();
      for (const c of counts) await timeList(c, times);
      for (const c of [1, 5]) await timeList(c, viaCli);
      useLauncher(false);
      for (const c of [1, 5]) await timeList(c, before);
      for (const kind of ['node', 'cat'] as const) {
        useStandIn(kind);
        for (const c of [1, 5]) await timeList(c, standIns[kind]);
      }
      useLauncher(true);
    }
    // What this machine pays: the local CLI's own CPU (with its ssh clients; the hosts' side is theirs).
    const localCpu = new Map([0, 1, 5].map((c) => {
      registered(c);
      return [c, cost([process.execPath, CLI, 'list'], env)] as const;
    }));
    // Where one remote list's time goes, on h1 as its ssh sessions run there (its own environment).
    const h1 = hosts[0];
    const henv = { ...process.env, ...h1.sessionEnv };
    const share = path.join(h1.home, '.local/share/resilient-agent');
    const listArgs = ['--contract', '1', 'list', '--host', 'local', '--json'];
    const parts: [string, string[]][] = [
      ['`node -e 0` (Node itself)', [process.execPath, '-e', '0']],
      ['`node cli.js --version` (+ the bundle compiled and loaded)', [process.execPath, path.join(share, 'cli.js'), '--version']],
      ['the same through the loader (code cache)', [process.execPath, path.join(share, 'load.js'), '--version']],
      ['`node cli.js --contract 1 list --json` (a remote list, before)', [process.execPath, path.join(share, 'cli.js'), ...listArgs]],
      ['the same through the loader (now)', [process.execPath, path.join(share, 'load.js'), ...listArgs]],
      ['`ssh h1 true` over the shared connection (local side)', ['ssh', '-F', env.RESILIENT_AGENT_SSH_CONFIG!, '-o', 'BatchMode=yes', '-o', 'ControlMaster=auto', '-o', 'ControlPersist=60', '-o', `ControlPath=${path.join(w.h.root, 'bench-cm')}`, '-T', 'h1', 'true']],
    ];
    const breakdown = parts.map(([label, argv]) => {
      const e = label.startsWith('`ssh') ? env : henv;
      cost(argv, e, 1); // its connection made, its cache written
      return { label, ...cost(argv, e) };
    });
    // A change on a host -> its event line here.
    registered(1);
    const events = spawn(process.execPath, [CLI, 'events', '--json'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    children.add(events);
    const arrived = new Map<string, number>();
    let carry = '';
    events.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (carry + d).split('\n');
      carry = lines.pop() ?? '';
      for (const l of lines) {
        const e = JSON.parse(l) as { type: string; hostName: string; session?: string; from?: string };
        if (e.type === 'hello') arrived.set(`hello ${e.hostName}`, nowMs());
        if (e.type === 'change' && e.hostName === 'h1' && e.from === 'running') arrived.set(e.session!, nowMs());
      }
    });
    await waitFor(() => arrived.has('hello h1'), 'the stream of h1');
    const latency: number[] = [];
    for (let i = 0; i < Math.min(changes, perHost); i++) {
      const t0 = nowMs();
      const r = await cli(['kill', `r${i}`, '--host', 'h1']);
      if (r.code !== 0) throw new Error(`kill on h1 exited ${r.code}`);
      await waitFor(() => arrived.has(`codex-r${i}`), `the change of codex-r${i}`, 10_000).catch(() => undefined);
      const at = arrived.get(`codex-r${i}`);
      if (at !== undefined) latency.push(at - t0);
    }
    events.kill('SIGTERM');
    const base = median(times.get(0)!);
    const one = median(times.get(1)!);
    const row = (c: number, label: string) => `| ${label} | ${ms(median(times.get(c)!))} | ${ms(p95(times.get(c)!))} | ${ratio(median(times.get(c)!), base)} | ${ratio(median(times.get(c)!), one)} | ${c === 5 ? `<= 1.5x one host ${yes(median(times.get(5)!) <= 1.5 * one)}` : ''} |`;
    const oneBefore = median(before.get(1)!);
    const fiveBefore = median(before.get(5)!);
    const lines = [
      `\`node dist/cli.js list\` here with ${perHost} tasks, and with 1, 3 and 5 hosts registered (each a real sshd on loopback with ${perHost} tasks of its`,
      `own; warm shared connections, ControlMaster), ${runs} runs each, interleaved. Every host is asked at once, within one deadline (their ssh clients`,
      'started side by side by one bash: forked from the CLI one after another, each start held the next back).',
      '',
      '| list | median | p95 | / this machine alone | / one host | target |',
      '|---|---|---|---|---|---|',
      row(0, `this machine alone (${perHost} tasks)`),
      row(1, `+ 1 host (${perHost * 2} tasks)`),
      row(3, `+ 3 hosts (${perHost * 4} tasks)`),
      row(5, `+ 5 hosts (${perHost * 6} tasks)`),
      '',
      'Each host runs its background supervisor (the default), which keeps its list ready as a snapshot while it is asked for; a question',
      'reads it with `cat` when the shell there says (its own `test`) it is fresh (written after the last record change, within 6 s), else the host\'s CLI',
      'answers. Side by side in the same run, interleaved: the snapshot (now, the rows above); each snapshot made stale (a record-change',
      'mark touched), so the host\'s CLI answers through the loader with V8\'s code cache; and before both, `node cli.js`.',
      '',
      '| list | before: node cli.js | CLI: loader + code cache (stale snapshot) | now: snapshot (cat) | 5 hosts / one host |',
      '|---|---|---|---|---|',
      `| + 1 host | ${ms(oneBefore)} | ${ms(median(viaCli.get(1)!))} | ${ms(one)} | |`,
      `| + 5 hosts | ${ms(fiveBefore)} | ${ms(median(viaCli.get(5)!))} | ${ms(median(times.get(5)!))} | before ${ratio(fiveBefore, oneBefore)}, CLI ${ratio(median(viaCli.get(5)!), median(viaCli.get(1)!))}, now ${ratio(median(times.get(5)!), one)} |`,
      '',
      `Where one remote list goes (on h1, in its ssh sessions' environment; CPU is user + system, a mean of 20 runs; ${perHost} tasks there):`,
      '',
      '| what runs | CPU | wall |',
      '|---|---|---|',
      ...breakdown.map((b) => `| ${b.label} | ${ms(b.cpu)} | ${ms(b.wall)} |`),
      '',
      'Bounds (not the product): each host\'s launcher replaced by a stand-in that prints the answer its list gave, after a',
      'bare Node start (no remote list that is a Node process can be cheaper), or with `cat` (no Node on the host at all):',
      '',
      '| list | stand-in: Node start + print | stand-in: cat |',
      '|---|---|---|',
      `| + 1 host | ${ms(median(standIns.node.get(1)!))} | ${ms(median(standIns.cat.get(1)!))} |`,
      `| + 5 hosts | ${ms(median(standIns.node.get(5)!))} | ${ms(median(standIns.cat.get(5)!))} |`,
      `| 5 hosts / one host | ${ratio(median(standIns.node.get(5)!), median(standIns.node.get(1)!))} | ${ratio(median(standIns.cat.get(5)!), median(standIns.cat.get(1)!))} |`,
      '',
      `What this machine itself spends on \`list\` (the CLI and its ssh clients, CPU, a mean of 20 runs): ${[0, 1, 5].map((c) => `${c} host${c === 1 ? '' : 's'} ${ms(localCpu.get(c)!.cpu)}`).join(', ')}.`,
      '',
      'Five hosts simulated on this machine share its cores with the local CLI (and with their five supervisors): a remote list',
      'answered by its CLI is a Node process there, five of them competing for the same CPUs; on five real machines each runs on',
      'its own (the bounds above show how much of the ratio is the remote Node starts).',
      '',
      `A task killed on a host (\`kill --host\`, from the command's start) -> its change line in \`events --json\` here: median ${ms(median(latency))}, p95 ${ms(p95(latency))} (${latency.length} of ${Math.min(changes, perHost)} changes).`,
    ];
    return { id: 'hosts', title: `8. \`list\` over 1, 3 and 5 hosts, and a remote change pushed`, markdown: lines.join('\n') };
  } finally {
    await world.cleanup();
    await cleanupWorld(w);
  }
}
