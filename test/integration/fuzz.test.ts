import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_NAME_LENGTH, nameProblem } from '../../src/core/model/names';
import { encodeEnv, encodeNul, RUNNER_SCRIPT, RUNNER_NAME } from '../../src/core/store/runner';
import { Harness, waitFor } from './harness';
import { Random, seedFromEnv } from './random';

const SEED = seedFromEnv('FUZZ_SEED');
const NAMES = Number(process.env.FUZZ_NAMES ?? 5000);
const PROMPTS = Number(process.env.FUZZ_PROMPTS ?? 2000);

const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-_ABCXYZ.:/ $`\'"\\;&|<>*?~!#%@()[]{}=+,\t\né🚀';
const ORACLE = new RegExp(`^[a-z0-9][a-z0-9_-]{0,${MAX_NAME_LENGTH - 1}}$`);

function genName(r: Random): string {
  const len = r.chance(0.05) ? r.int(60, 70) : r.int(0, 12);
  let s = '';
  for (let i = 0; i < len; i++) s += r.chance(0.7) ? r.pick([...'abcdefghijklmnopqrstuvwxyz0123456789-_']) : r.pick([...NAME_CHARS]);
  return s;
}

const PIECES = [
  '$(touch MARK)', '`touch MARK`', '; touch MARK', '&& touch MARK', '| tee MARK', '> MARK', "'", '"', '\\', '\\"', "'\\''",
  '$HOME', '${PATH}', '$$', '!!', '*', '?', '~', '#', '%s', '%n', '{a,b}', '\n', '\r\n', '\t', '\x1b[31m', '\x07', '\x01', '\x7f',
  '--help', '-', '--', '-rf', 'ünïcødé', '🚀', 'שלום', 'e\u0301', '\u202e', '\u00a0', '中文', ' ', '  ', 'plain words',
];

function genPrompt(r: Random, mark: string): string {
  if (r.chance(0.01)) return 'x'.repeat(r.int(50_000, 120_000));
  const parts: string[] = [];
  if (r.chance(0.2)) parts.push(r.pick(['-', '--', '-x', '--version']));
  const n = r.int(1, 12);
  for (let i = 0; i < n; i++) parts.push(r.pick(PIECES));
  const s = parts.join(r.chance(0.5) ? '' : ' ').split('MARK').join(mark);
  return s.trim() === '' ? `${s}x` : s;
}

describe(`fuzz (seed ${SEED}; replay with FUZZ_SEED=${SEED})`, function () {
  this.timeout(300_000);

  it(`${NAMES} generated names: accepted exactly when valid, never rewritten`, () => {
    const r = new Random(SEED);
    for (let i = 0; i < NAMES; i++) {
      const name = genName(r);
      assert.equal(nameProblem(name) === undefined, ORACLE.test(name), `seed ${SEED}, name ${JSON.stringify(name)}`);
    }
  });

  it(`${PROMPTS} generated prompts reach the program byte-exact through the pane runner, and run nothing`, async () => {
    const r = new Random(SEED + 1);
    const root = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'ra-fuzz-'));
    const mark = path.join(root, 'pwned');
    const envFile = path.join(root, 'env');
    fs.writeFileSync(envFile, encodeEnv({ PATH: process.env.PATH, LANG: 'C.UTF-8' }));
    try {
      for (let i = 0; i < PROMPTS; i++) {
        const prompt = genPrompt(r, mark);
        const dir = path.join(root, 'a');
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir);
        // printf %s writes its argument as it is; the runner tees it into events.jsonl.
        fs.writeFileSync(path.join(dir, 'argv'), encodeNul(['/usr/bin/printf', '%s', prompt]));
        const code = await new Promise<number>((resolve, reject) => {
          const child = spawn('bash', ['-c', RUNNER_SCRIPT, RUNNER_NAME, dir, envFile, root], { stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          child.stderr.on('data', (d) => (err += d));
          child.on('error', reject);
          child.on('exit', (c) => (c === 0 ? resolve(0) : reject(new Error(`runner exited ${c}: ${err}`))));
        });
        assert.equal(code, 0);
        const got = fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8');
        assert.equal(got, prompt, `seed ${SEED + 1}, prompt #${i} ${JSON.stringify(prompt.slice(0, 200))}`);
        assert.equal(fs.readFileSync(path.join(dir, 'exit'), 'utf8'), '0\n');
        assert.equal(fs.existsSync(mark), false, `seed ${SEED + 1}, prompt #${i} executed something`);
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  describe('through the CLI, tmux and a fixture agent', () => {
    let h: Harness;
    before(() => {
      h = new Harness();
    });
    after(async () => {
      await h.cleanup();
    });

    it('generated names: accepted and started, or refused with status 2 and nothing made', async () => {
      const r = new Random(SEED + 2);
      const project = h.project('names');
      let accepted = 0;
      for (let i = 0; i < 40; i++) {
        const name = i % 2 ? genName(r) : `${r.pick(['ok', 'fix', 'a'])}-${r.int(0, 99999)}`;
        const isNew = !h.store.sessions().includes(`codex-${name}`);
        const res = await h.cli(['start', 'codex', name, '--dir', project, '--prompt', 'x']);
        if (nameProblem(name) === undefined && isNew) {
          // Valid and new: started (a repeat of an earlier name is refused as in use).
          assert.equal(res.code, 0, `seed ${SEED + 2}, name ${JSON.stringify(name)}: ${res.stderr}`);
          accepted++;
        } else if (nameProblem(name) !== undefined) {
          assert.equal(res.code, 2, `seed ${SEED + 2}, name ${JSON.stringify(name)}`);
          // A name that looks like an option is read as one, as a person typing it would be told.
          assert.match(res.stderr, name.startsWith('-') ? /^resilient-agent: (invalid task name|unknown option)/ : /^resilient-agent: invalid task name/);
          assert.equal(res.stderr.trim().split('\n').length, 1, `one line: ${JSON.stringify(res.stderr)}`);
        }
      }
      const valid = h.store.sessions();
      assert.equal(valid.length, accepted);
      const tmuxSessions = (await h.tmux(['list-sessions', '-F', '#{session_name}'])).stdout.split('\n').filter(Boolean).sort();
      assert.deepEqual(tmuxSessions, valid, 'a session for each accepted name and none for a refused one');
    });

    for (const agent of ['codex', 'claude', 'opencode'] as const) {
      it(`${agent}: generated prompts reach the agent byte-exact and run nothing`, async () => {
        const r = new Random(SEED + 3);
        const mark = path.join(h.root, 'pwned');
        const prompts: string[] = [];
        for (let i = 0; i < 12; i++) {
          const prompt = genPrompt(r, mark);
          prompts.push(prompt);
          // `--prompt -` means "read the prompt from stdin" (the CLI contract), so the one-character
          // prompt "-" is given the way the README tells a person to: on stdin.
          const viaStdin = prompt === '-';
          await h.ok(['start', agent, `p${i}`, '--dir', h.project(`${agent}-${i}`), '--prompt', viaStdin ? '-' : prompt], viaStdin ? { input: prompt } : {});
        }
        for (let i = 0; i < prompts.length; i++) {
          const project = h.project(`${agent}-${i}`);
          await waitFor(() => h.invocations(project).length === 1, `run ${i}`);
          assert.equal(h.invocations(project)[0].prompt, prompts[i], `seed ${SEED + 3}, prompt #${i}`);
        }
        assert.equal(fs.existsSync(mark), false);
      });
    }
  });
});
