// 8. list over hosts (OpenSSH), and a remote change -> its event here
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, waitFor } from '../../integration/harness';
import { SshWorld } from '../../integration/sshd';
import type { SshHost } from '../../integration/sshd';
import { children, cleanupWorld, newWorld, startSleepTasks } from '../world';
import { log, median, ms, nowMs, p95, ratio, timeArgv, yes } from '../helpers';
import type { Section } from '../report';

const SLEEP_CODEX = '#!/bin/sh\nprintf \'{"type":"thread.started","thread_id":"bench-%s"}\\n\' "$$"\nexec sleep 100000\n';

/**
 * `resilient-agent list` with 1, 3 and 5 hosts registered (real sshd on loopback, warm shared
 * connections), each host with `perHost` sleeping tasks, beside `list` of this machine alone with as
 * many; then the time from a state change on a host (a kill there) to its line in `events --json` here.
 */
export async function measureHosts(runs = 10, perHost = 10, changes = 10): Promise<Section> {
  const w = newWorld({ sleepAgents: true });
  const world = new SshWorld(w.h);
  const env = { ...w.env, RESILIENT_AGENT_SSH_CONFIG: w.h.env.RESILIENT_AGENT_SSH_CONFIG };
  const cli = (args: string[]) => timeArgv(process.execPath, [CLI, ...args], env);
  const hosts: SshHost[] = [];
  try {
    await startSleepTasks(w, Array.from({ length: perHost }, (_, i) => `l${i}`));
    for (const name of ['h1', 'h2', 'h3', 'h4', 'h5']) {
      const host = await world.host(name);
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
    const counts = [0, 1, 3, 5];
    const times = new Map<number, number[]>(counts.map((c) => [c, []]));
    for (const c of counts) { // warm every connection and the page cache
      registered(c);
      await cli(['list']);
    }
    for (let i = 0; i < runs; i++) {
      for (const c of counts) {
        registered(c);
        const r = await cli(['list']);
        const rows = r.stdout.split('\n').filter((l) => /codex-[lr]\d/.test(l)).length;
        if (r.code !== 0 || rows !== perHost * (c + 1)) throw new Error(`list with ${c} hosts: exit ${r.code}, ${rows} rows`);
        times.get(c)!.push(r.ms);
      }
    }
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
    const lines = [
      `\`node dist/cli.js list\` here with ${perHost} tasks, and with 1, 3 and 5 hosts registered (each a real sshd on loopback with ${perHost} tasks of its`,
      `own; warm shared connections, ControlMaster), ${runs} runs each, interleaved. Every host is asked at once, each within its deadline.`,
      '',
      '| list | median | p95 | / this machine alone | / one host | target |',
      '|---|---|---|---|---|---|',
      row(0, `this machine alone (${perHost} tasks)`),
      row(1, `+ 1 host (${perHost * 2} tasks)`),
      row(3, `+ 3 hosts (${perHost * 4} tasks)`),
      row(5, `+ 5 hosts (${perHost * 6} tasks)`),
      '',
      `A task killed on a host (\`kill --host\`, from the command's start) -> its change line in \`events --json\` here: median ${ms(median(latency))}, p95 ${ms(p95(latency))} (${latency.length} of ${Math.min(changes, perHost)} changes).`,
    ];
    return { id: 'hosts', title: `8. \`list\` over 1, 3 and 5 hosts, and a remote change pushed`, markdown: lines.join('\n') };
  } finally {
    await world.cleanup();
    await cleanupWorld(w);
  }
}
