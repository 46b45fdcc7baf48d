import * as assert from 'node:assert/strict';
import type { Limits } from '../../src/core/decide/admission';
import { admit, holdsSlot, queuePlaces } from '../../src/core/decide/admission';
import type { AgentId } from '../../src/core/model/names';
import type { Attempt, TaskRecord } from '../../src/core/model/record';
import { testRecord } from '../tools/records';

const HOST = 'h1';
const MB = 1024 * 1024;
const limits = (over: Partial<Limits> = {}): Limits => ({ maxRunning: 2, perAgent: {}, minFreeMemoryMb: 1024, ...over });
const attempt = (host = HOST): Attempt => ({ n: 1, cause: 'start', mode: 'start', startedAt: '2026-01-01T00:00:00.000Z', endedAt: null, exitCode: null, signal: null, note: null, host: { key: host, name: host } });

function running(name: string, agent: AgentId = 'codex', over: Partial<TaskRecord> = {}): TaskRecord {
  return testRecord({ name, agent, session: `${agent}-${name}`, state: 'running', attempts: [attempt()], ...over });
}

function queued(name: string, order: number, agent: AgentId = 'codex'): TaskRecord {
  return testRecord({ name, agent, session: `${agent}-${name}`, state: 'queued', queue: { at: '2026-01-01T00:00:00.000Z', order, cause: 'start', host: { key: HOST, name: HOST } } });
}

describe('admission (the queue\'s rule)', () => {
  it('first in, first out, up to the limit; the rest say why', () => {
    const a = admit([running('r1'), queued('b', 2), queued('a', 1), queued('c', 3)], limits({ maxRunning: 2 }), HOST, 8000 * MB);
    assert.deepEqual(a.start, ['codex-a']);
    assert.equal(a.waiting.get('codex-b'), 'queued: 2 of 2 running');
    assert.equal(a.waiting.get('codex-c'), 'queued: 2 of 2 running');
    assert.deepEqual([...queuePlaces([queued('b', 2), queued('a', 1)])], [['codex-a', { place: 1, of: 2 }], ['codex-b', { place: 2, of: 2 }]]);
  });

  it('an agent at its own limit lets later tasks of other agents pass', () => {
    const a = admit([running('r1'), queued('b', 1), queued('c', 2, 'claude'), queued('d', 3)], limits({ maxRunning: 5, perAgent: { codex: 1 } }), HOST, 8000 * MB);
    assert.deepEqual(a.start, ['claude-c']);
    assert.equal(a.waiting.get('codex-b'), 'queued: 1 of 1 codex running');
    assert.equal(a.waiting.get('codex-d'), 'queued: 1 of 1 codex running');
  });

  it('memory below the floor holds every start; memory near it admits one at a time', () => {
    const low = admit([queued('a', 1), queued('b', 2)], limits({ maxRunning: 9 }), HOST, 300 * MB);
    assert.deepEqual(low.start, []);
    assert.equal(low.waiting.get('codex-a'), 'queued: 300 MB free, 1.0 GB needed');
    assert.equal(low.memoryBound, true);
    const near = admit([queued('a', 1), queued('b', 2)], limits({ maxRunning: 9 }), HOST, 1500 * MB);
    assert.deepEqual(near.start, ['codex-a']);
    assert.match(near.waiting.get('codex-b') ?? '', /waiting for the last start to take its memory/);
    const plenty = admit([queued('a', 1), queued('b', 2)], limits({ maxRunning: 9 }), HOST, 8000 * MB);
    assert.deepEqual(plenty.start, ['codex-a', 'codex-b']);
    assert.equal(plenty.memoryBound, false);
    assert.deepEqual(admit([queued('a', 1)], limits(), HOST, undefined).start, ['codex-a'], 'memory unknown: no hold');
  });

  it('a slot is held by what runs or is about to be resumed, on this host only', () => {
    assert.equal(holdsSlot(running('a'), HOST), true);
    for (const state of ['waiting', 'resuming', 'failed', 'lost'] as const) assert.equal(holdsSlot(running('a', 'codex', { state }), HOST), true, state);
    for (const state of ['done', 'gave-up', 'queued'] as const) assert.equal(holdsSlot(running('a', 'codex', { state }), HOST), false, state);
    assert.equal(holdsSlot(running('a', 'codex', { state: 'held', stateReason: 'killed by the user', killedByUser: true }), HOST), false, 'killed');
    assert.equal(holdsSlot(running('a', 'codex', { state: 'held', stateReason: 'authentication failed' }), HOST), false, 'held for a person');
    assert.equal(holdsSlot(running('a', 'codex', { attempts: [attempt('other')] }), HOST), false, 'another host\'s');
  });
});
