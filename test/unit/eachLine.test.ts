import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { eachLineFrom } from '../../src/core/platform/files';

/** Every line `eachLineFrom` hands on from `offset`, and where it would go on. */
function read(file: string, offset = 0, andRest = false, maxBytes = Infinity): { lines: string[]; next: number } {
  const lines: string[] = [];
  const r = eachLineFrom(file, offset, (l) => lines.push(l), andRest, 8 * 1024 * 1024, undefined, maxBytes);
  return { lines, next: r?.next ?? -1 };
}

describe('a file read line by line from an offset (events files)', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ra-lines-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a short file: its whole lines, the unfinished last one only with andRest, and where to go on', () => {
    const f = path.join(dir, 'e.jsonl');
    fs.writeFileSync(f, 'one\ntwo\nthr');
    assert.deepEqual(read(f), { lines: ['one', 'two'], next: 8 });
    assert.deepEqual(read(f, 8), { lines: [], next: 8 });
    assert.deepEqual(read(f, 4, true), { lines: ['two', 'thr'], next: 11 });
  });

  it('a file of several MiB with lines across every chunk boundary, read whole and from the middle, bounded by maxBytes', () => {
    const f = path.join(dir, 'big.jsonl');
    const lines = Array.from({ length: 3000 }, (_, i) => `${i}:${'x'.repeat((i * 7919) % 3000)}`);
    fs.writeFileSync(f, `${lines.join('\n')}\n`);
    assert.ok(fs.statSync(f).size > 4 * 1024 * 1024);
    const all = read(f);
    assert.equal(all.lines.length, 3000);
    assert.deepEqual(all.lines, lines);
    assert.equal(all.next, fs.statSync(f).size);
    const at = Buffer.byteLength(`${lines.slice(0, 1234).join('\n')}\n`);
    assert.deepEqual(read(f, at).lines, lines.slice(1234));
    const some = read(f, 0, false, 1024 * 1024);
    assert.deepEqual(some.lines, lines.slice(0, some.lines.length));
    assert.ok(some.lines.length > 0 && some.next <= 1024 * 1024);
  });
});
