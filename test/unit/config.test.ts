import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { lookupFromObject, resolveSettings, SETTING_KEYS, settingsToObject } from '../../src/core/model/settings';

describe('settings', () => {
  it('defaults come from package.json only: the seed\'s 3 min, doubling, 5 h', () => {
    const s = resolveSettings();
    assert.equal(s.intervalMs, 180_000);
    assert.equal(s.backoffFactor, 2);
    assert.equal(s.maxRuntimeMs, 5 * 3600_000);
    assert.deepEqual(s.agents.codex.modeArgs, ['-s', 'workspace-write']);
    assert.equal(s.tmuxSocket, '');
  });

  it('every setting in package.json is read by the typed module, and no other', () => {
    const manifest = JSON.parse(fs.readFileSync('package.json', 'utf8'));
    const all = Object.assign({}, ...manifest.contributes.configuration.map((g: { properties: object }) => g.properties));
    const keys = Object.keys(all).map((k) => k.replace('resilientAgent.', ''));
    assert.deepEqual([...SETTING_KEYS].sort(), keys.sort());
    for (const k of keys) assert.ok('default' in all[`resilientAgent.${k}`], k);
  });

  it('user values override, bad ones are one clear error naming the key', () => {
    const s = resolveSettings(lookupFromObject({ 'monitor.intervalSeconds': 0.5, 'resilientAgent.agents.pi.extraArgs': ['--model', 'm'] }));
    assert.equal(s.intervalMs, 500);
    assert.deepEqual(s.agents.pi.extraArgs, ['--model', 'm']);
    assert.throws(() => resolveSettings(lookupFromObject({ 'monitor.intervalSeconds': 'often' })), /resilientAgent\.monitor\.intervalSeconds must be a number \(got "often"\)/);
    assert.throws(() => lookupFromObject({ 'monitor.intervl': 1 }), /unknown setting/);
  });
});

describe('settings handed to another process', () => {
  it('come back exactly as they went (every key, units converted both ways)', () => {
    const changed = resolveSettings(lookupFromObject({
      'monitor.intervalSeconds': 0.5, 'monitor.backoffFactor': 3, 'monitor.maxBackoffMinutes': 7, 'monitor.maxRuntimeMinutes': 90,
      'monitor.maxAttempts': 4, continuePrompt: 'Go on.', 'tmux.socket': 'mine', 'supervisor.mode': 'window',
      'worktree.byDefault': true, 'worktree.branchPrefix': 'ai/', 'agents.pi.executable': '/opt/pi', 'agents.codex.extraArgs': ['-m', 'o3'],
    }));
    assert.equal(changed.intervalMs, 500);
    assert.equal(changed.maxBackoffMs, 7 * 60_000);
    assert.deepEqual(resolveSettings(lookupFromObject(settingsToObject(changed))), changed);
    assert.deepEqual(Object.keys(settingsToObject(changed)).sort(), [...SETTING_KEYS].filter((k) => !/^(notifications|mirror|view)\./.test(k)).sort());
  });
});
