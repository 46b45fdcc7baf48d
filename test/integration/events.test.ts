import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, Harness, waitFor } from './harness';
import { SshHost, SshWorld } from './sshd';

interface Event { contract: number; type: string; hostName: string; session?: string; from?: string | null; to?: string | null; reachable?: boolean; tasks?: { session: string }[] }

/** `events --json` over every host: one long-lived ssh stream each, opened again when it drops. */
describe('state changes pushed from every host', function () {
  this.timeout(120_000);
  let h: Harness;
  let world: SshWorld;
  let child: ChildProcess | undefined;

  beforeEach(() => {
    h = new Harness();
    world = new SshWorld(h);
  });
  afterEach(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await world.cleanup();
    await h.cleanup();
  });

  const project = (host: SshHost, name: string, plan: string[]) => {
    const dir = path.join(host.dir, 'projects', name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.fixture-plan.json'), JSON.stringify(plan));
    return dir;
  };

  it('a change on a host arrives within a second; a host that drops is said so, and its stream comes back with it', async () => {
    const a = await world.installed('alpha');
    await world.installed('beta');
    const events: (Event & { receivedAt: number })[] = [];
    child = spawn(process.execPath, [CLI, 'events', '--json', '--heartbeat', '1'], { env: h.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let carry = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (carry + d).split('\n');
      carry = lines.pop() ?? '';
      for (const l of lines) events.push({ ...JSON.parse(l), receivedAt: Date.now() });
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const seen = (pred: (e: Event) => boolean, what: string, ms = 20_000) => waitFor(() => events.find(pred), `${what} (stderr: ${stderr})`, ms);
    for (const host of ['local', 'alpha', 'beta']) await seen((e) => e.type === 'hello' && e.hostName === host, `hello from ${host}`);
    assert.ok(events.every((e) => e.contract === 1));

    const dir = project(a, 'p', ['hang']);
    await h.ok(['start', 'codex', 'pushed', '--host', 'alpha', '--dir', dir, '--prompt', 'x']);
    const startedAt = Date.now();
    const running = await seen((e) => e.type === 'change' && e.hostName === 'alpha' && e.session === 'codex-pushed' && e.to === 'running', 'the new task on alpha');
    const latency = (running as Event & { receivedAt: number }).receivedAt - startedAt;
    assert.ok(latency < 1_000, `arrived ${latency} ms after the start returned`);

    await a.kill();
    await seen((e) => e.type === 'host' && e.hostName === 'alpha' && e.reachable === false, 'alpha down');
    const helloCount = events.filter((e) => e.type === 'hello' && e.hostName === 'alpha').length;
    await a.start();
    await seen((e) => e.type === 'host' && e.hostName === 'alpha' && e.reachable === true && events.filter((x) => x.type === 'hello' && x.hostName === 'alpha').length > helloCount, 'alpha back', 40_000);
    // The task went on there meanwhile; a change after the return is pushed too.
    await h.ok(['kill', 'pushed', '--host', 'alpha']);
    await seen((e) => e.type === 'change' && e.hostName === 'alpha' && e.session === 'codex-pushed' && e.from === 'running', 'the kill on alpha');
    assert.ok(!events.some((e) => e.type === 'host' && e.hostName === 'beta' && e.reachable === false), 'beta never dropped');
  });
});
