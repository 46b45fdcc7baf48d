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
    const killedAt = Date.now();
    // Its ssh exits when the connection drops: the stream ends at once, not at ssh's keep-alives or a silence.
    const down = await seen((e) => e.type === 'host' && e.hostName === 'alpha' && e.reachable === false, 'alpha down') as Event & { receivedAt: number; error?: string };
    assert.ok(down.receivedAt - killedAt < 2_000, `alpha said down ${down.receivedAt - killedAt} ms after its sshd was killed (${down.error})`);
    console.log(`      sshd killed -> alpha said down in ${down.receivedAt - killedAt} ms (${down.error})`);
    const helloCount = events.filter((e) => e.type === 'hello' && e.hostName === 'alpha').length;
    await a.start();
    await seen((e) => e.type === 'host' && e.hostName === 'alpha' && e.reachable === true && events.filter((x) => x.type === 'hello' && x.hostName === 'alpha').length > helloCount, 'alpha back', 40_000);
    // The task went on there meanwhile; a change after the return is pushed too.
    await h.ok(['kill', 'pushed', '--host', 'alpha']);
    await seen((e) => e.type === 'change' && e.hostName === 'alpha' && e.session === 'codex-pushed' && e.from === 'running', 'the kill on alpha');
    assert.ok(!events.some((e) => e.type === 'host' && e.hostName === 'beta' && e.reachable === false), 'beta never dropped');
  });
  it('a host that hangs (sshd SIGSTOPped) is shown unreachable within 5 s while the other host\'s changes still arrive; back at once when it wakes', async () => {
    const a = await world.installed('alpha');
    const b = await world.installed('beta');
    await h.ok(['start', 'codex', 'ta', '--host', 'alpha', '--dir', project(a, 'ta', ['hang']), '--prompt', 'x']);
    // What a person watching sees: the lines of `events`, as they come.
    const lines: { text: string; at: number }[] = [];
    child = spawn(process.execPath, [CLI, 'events'], { env: h.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let carry = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const parts = (carry + d).split('\n');
      carry = parts.pop() ?? '';
      for (const text of parts) lines.push({ text, at: Date.now() });
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const shown = (re: RegExp, what: string, ms: number, from = 0) =>
      waitFor(() => lines.slice(from).find((l) => re.test(l.text)), `${what} (seen: ${JSON.stringify(lines.map((l) => l.text))}; stderr: ${stderr})`, ms);
    for (const host of ['alpha', 'beta']) await shown(new RegExp(`^${host}: connected$`), `${host} connected`, 20_000);

    a.stop();
    const stoppedAt = Date.now();
    const down = await shown(/^alpha: unreachable \(no word from it for 4\.0 s \(it says one every 1\.5 s\)\); waiting for it to speak again$/, 'alpha shown unreachable', 10_000);
    const noticed = down.at - stoppedAt;
    assert.ok(noticed < 5_000, `alpha shown unreachable ${noticed} ms after its sshd stopped`);
    // beta is followed as before: a task started there meanwhile is seen at once.
    const mark = lines.length;
    await h.ok(['start', 'codex', 'tb', '--host', 'beta', '--dir', project(b, 'tb', ['hang']), '--prompt', 'x']);
    const startedAt = Date.now();
    const tb = await shown(/^beta codex-tb: new -> running$/, 'beta\'s new task', 5_000, mark);
    assert.ok(tb.at - startedAt < 1_000, `beta's change arrived ${tb.at - startedAt} ms after its start returned`);
    assert.ok(!lines.some((l) => /^alpha: connected$/.test(l.text) && l.at > down.at), 'alpha not back while stopped');

    a.cont();
    const wokeAt = Date.now();
    const back = await shown(/^alpha: connected$/, 'alpha back', 20_000, lines.indexOf(down) + 1);
    const returned = back.at - wokeAt;
    assert.ok(returned < 5_000, `alpha back ${returned} ms after its sshd woke`);
    // Its task ran on meanwhile; a change there after its return is pushed as before.
    const after = lines.length;
    await h.ok(['kill', 'ta', '--host', 'alpha']);
    await shown(/^alpha codex-ta: running -> /, 'the kill on alpha', 5_000, after);
    assert.ok(!lines.some((l) => /^beta: unreachable/.test(l.text)), 'beta never shown unreachable');
    console.log(`      hung host shown unreachable after ${noticed} ms; back ${returned} ms after SIGCONT; beta's change in ${tb.at - startedAt} ms meanwhile`);
  });
});
