import * as assert from 'node:assert/strict';
import { parseArgs } from '../../src/cli/args';
import { UsageError } from '../../src/core/model/errors';

const spec = { positionals: [{ name: 'agent', required: true }, { name: 'name', required: true }], flags: { prompt: 'value' as const, json: 'bool' as const, 'on-change': 'rest' as const } };

describe('CLI argument parsing', () => {
  it('a value flag takes the next element even when it starts with a dash', () => {
    const p = parseArgs('start', ['codex', 'x', '--prompt', '--help me'], spec);
    assert.equal(p.flags.get('prompt'), '--help me');
    assert.deepEqual(p.positionals, ['codex', 'x']);
  });

  it('--on-change takes the rest as argv', () => {
    const p = parseArgs('m', ['a', 'b', '--on-change', 'notify-send', '--urgency', 'low'], spec);
    assert.deepEqual(p.flags.get('on-change'), ['notify-send', '--urgency', 'low']);
  });

  it('unknown flags, missing and extra arguments are usage errors', () => {
    assert.throws(() => parseArgs('start', ['codex', 'x', '--promt', 'p'], spec), (e) => e instanceof UsageError && /--promt/.test(e.message));
    assert.throws(() => parseArgs('start', ['codex'], spec), /needs <name>/);
    assert.throws(() => parseArgs('start', ['codex', 'x', 'y'], spec), /unexpected argument "y"/);
    assert.throws(() => parseArgs('start', ['codex', 'x', '--json', '--json'], spec), /twice/);
  });
});
