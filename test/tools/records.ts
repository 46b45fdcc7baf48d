import type { TaskRecord } from '../../src/core/model/record';
import { newRecord } from '../../src/core/model/record';

/** A codex task named "fix", made by the product's own factory, with the given fields changed. */
export function testRecord(over: Partial<TaskRecord> = {}, now = '2026-01-01T00:00:00.000Z'): TaskRecord {
  const base = newRecord({
    name: 'fix', agent: 'codex', dir: '/p', prompt: 'p', now, executable: '/bin/codex',
    agentArgs: { modeArgs: [], extraArgs: [], continuePrompt: 'c' },
  });
  return { ...base, ...over };
}
