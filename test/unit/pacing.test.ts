import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { processesByEnv, processesWithEnv } from '../../src/core/platform/processes';
import { Pacer, pacerFor } from '../../src/core/ops/recovery';

describe('the pacing of a pass\'s launches', () => {
  it('the first launch goes at once; each next one a gap after the one before started, not after the clock stood still', async () => {
    let now = 1000;
    const waits: number[] = [];
    const pacer = new Pacer({ gapMs: [20, 40], concurrency: 4, random: () => 0.5, sleep: async (ms) => { waits.push(ms); now += ms; } }, () => now);
    await pacer.turn();
    await pacer.turn();
    now += 100; // a launch that took long: the next may go at once
    await pacer.turn();
    await pacer.turn();
    assert.deepEqual(waits, [30, 30]);
  });

  it('launches asking at the same moment are spread one gap apart', async () => {
    const now = 5000;
    const waits: number[] = [];
    const pacer = new Pacer({ gapMs: [10, 10], concurrency: 4, sleep: async (ms) => { waits.push(ms); } }, () => now);
    await Promise.all([pacer.turn(), pacer.turn(), pacer.turn()]);
    assert.deepEqual(waits, [10, 20]);
  });

  it('defaults: 20-40 ms apart, 4 under way; a concurrency below one is one', () => {
    assert.equal(pacerFor({}).concurrency, 4);
    assert.equal(pacerFor({ launchConcurrency: 0.5 }).concurrency, 1);
  });
});

describe('one look at /proc for many attempts', () => {
  it('finds, for each value, the processes processesWithEnv finds for it', async function () {
    if (process.platform !== 'linux') this.skip();
    const name = `RA_TEST_ATTEMPT_${process.pid}`;
    const children = ['/a/1', '/a/1', '/b/2'].map((value) => spawn('sleep', ['30'], { env: { ...process.env, [name]: value }, stdio: 'ignore' }));
    try {
      await Promise.all(children.map((c) => new Promise((r) => c.once('spawn', r))));
      const seen = processesByEnv(name);
      for (const value of ['/a/1', '/b/2']) {
        assert.deepEqual([...(seen.get(value) ?? [])].sort(), processesWithEnv(`${name}=${value}`).sort(), value);
      }
      assert.deepEqual(seen.get('/a/1')?.length, 2);
      assert.equal(seen.get('/c/3'), undefined);
    } finally {
      for (const c of children) c.kill('SIGKILL');
    }
  });
});
