import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { resolveExecutable } from './executables';

/**
 * One argument for a POSIX shell: in single quotes, each `'` written `'\''`. Nothing inside single
 * quotes is special to sh (no `$`, backtick, glob, backslash or newline), so the remote shell hands
 * the command exactly these bytes. The one place a remote command string is made.
 */
export function shQuote(arg: string): string {
  if (arg.includes('\0')) throw new Error('an argument cannot hold a NUL byte (no program can receive one)');
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

/** A remote command line: every argument quoted, joined by spaces. */
export function shCommand(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ');
}

export type SshCause = 'no-ssh' | 'local' | 'unreachable' | 'auth' | 'host-key' | 'timeout' | 'refused-session' | 'remote';

/** Why talking to a host failed, in a sentence; `cause` for callers that branch. */
export class SshError extends Error {
  constructor(message: string, readonly cause: SshCause, readonly stderr = '', readonly exitCode: number | null = null) {
    super(message);
    this.name = 'SshError';
  }
}

/** Where ssh keeps a host's shared connection; a unix socket path has at most 104 bytes (macOS; 108 on Linux). */
const SOCKET_MAX = 104;
/** ssh makes the socket under a temporary name first: the path plus `.` and 16 random characters. */
const SOCKET_TEMP_SUFFIX = 17;

export interface SshConfig {
  /** The state dir: its `ssh` folder holds the shared connections' sockets (0700). */
  home: string;
  env: NodeJS.ProcessEnv;
  /** An ssh config file used instead of ~/.ssh/config (`ssh -F`); tests give their own. */
  configFile?: string;
  connectTimeoutSeconds?: number;
  /** ServerAliveInterval × ServerAliveCountMax: how soon a link that went silent is declared dead. */
  aliveIntervalSeconds?: number;
  aliveCountMax?: number;
  /** How long a shared connection stays up after its last command. */
  persistSeconds?: number;
}

/**
 * The folder of the shared connections' sockets: the state dir's `ssh`, or, when that path is too
 * long for a unix socket, a private folder of this user under the system's temp dir named for the
 * state dir (checked to be this user's own, not a link, mode 0700).
 */
export function controlDir(home: string): string {
  const inHome = path.join(home, 'ssh');
  if (Buffer.byteLength(path.join(inHome, 'x'.repeat(16))) + SOCKET_TEMP_SUFFIX <= SOCKET_MAX - 1) return inHome;
  const key = createHash('sha256').update(home).digest('hex').slice(0, 12);
  return path.join(os.tmpdir(), `resilient-agent-${process.getuid?.() ?? 'u'}`, key);
}

function privateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const d of [path.dirname(dir), dir]) {
    const st = fs.lstatSync(d);
    if (d === path.dirname(dir) && !d.startsWith(os.tmpdir())) continue;
    if (!st.isDirectory() || st.isSymbolicLink() || (process.getuid && st.uid !== process.getuid()) || (st.mode & 0o077) !== 0) {
      throw new SshError(`${d} is not a private folder of this user: ssh's connection sockets cannot go there`, 'local');
    }
  }
}

/** The socket of one host's shared connection: short, from the host's registered name. */
export function controlPath(home: string, hostName: string): string {
  return path.join(controlDir(home), createHash('sha256').update(hostName).digest('hex').slice(0, 16));
}

/**
 * The ssh options every call uses: never a password or passphrase prompt (BatchMode), the
 * connection shared per host (ControlMaster), a dead link noticed (ServerAlive*). Host-key checking
 * is left as the person's own ssh configuration says (never turned off here).
 */
export function sshOptions(cfg: SshConfig, hostName: string, shared = true): string[] {
  const o = (k: string, v: string | number) => ['-o', `${k}=${v}`];
  return [
    ...(cfg.configFile ? ['-F', cfg.configFile] : []),
    ...o('BatchMode', 'yes'),
    ...o('ConnectTimeout', cfg.connectTimeoutSeconds ?? 10),
    ...o('ServerAliveInterval', cfg.aliveIntervalSeconds ?? 5),
    ...o('ServerAliveCountMax', cfg.aliveCountMax ?? 3),
    ...(shared
      ? [...o('ControlMaster', 'auto'), ...o('ControlPersist', cfg.persistSeconds ?? 300), ...o('ControlPath', controlPath(cfg.home, hostName))]
      : [...o('ControlMaster', 'no'), ...o('ControlPath', 'none')]),
  ];
}

/** The whole argv of one remote command: `ssh OPTIONS -T -- TARGET 'arg' 'arg' …`. */
export function sshArgv(cfg: SshConfig, hostName: string, target: string, command: string, opts: { tty?: boolean; shared?: boolean } = {}): string[] {
  if (target.startsWith('-')) throw new SshError(`an ssh target cannot start with "-" (${target})`, 'unreachable');
  const options = sshOptions(cfg, hostName, opts.shared ?? true);
  if (opts.tty) return [...withoutBatch(options), '-t', '--', target, command];
  return [...options, '-T', '--', target, command];
}

/** An interactive session (attach) may ask for a passphrase or a host key as ssh itself does. */
function withoutBatch(options: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < options.length; i++) {
    if (options[i] === '-o' && options[i + 1] === 'BatchMode=yes') {
      i++;
      continue;
    }
    out.push(options[i]);
  }
  return out;
}

export interface SshResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** ssh's own failures exit 255; its stderr says which. */
function classify(stderr: string, exitCode: number): SshCause | undefined {
  if (exitCode !== 255) return undefined;
  if (/Session open refused|open failed: .*administratively prohibited|mux_client_request_session/i.test(stderr)) return 'refused-session';
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/i.test(stderr)) return 'host-key';
  if (/Permission denied|Too many authentication failures/i.test(stderr)) return 'auth';
  return 'unreachable';
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter((l) => l.trim() && !/^Warning: Permanently added/.test(l)).at(-1)?.trim() ?? '';
}

/**
 * Runs one ssh argv, `input` on its stdin (a prompt goes this way, never in argv). Rejects with an
 * SshError when ssh itself failed (exit 255) or did not finish by `timeoutMs`; the remote command's
 * own exit status is in the result.
 */
export function runSsh(argv: readonly string[], env: NodeJS.ProcessEnv, opts: { input?: string; timeoutMs?: number; what?: string } = {}): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      f();
    };
    child.on('error', (e: NodeJS.ErrnoException) => finish(() => reject(e.code === 'ENOENT' ? new SshError(NO_SSH, 'no-ssh') : e)));
    // Out of file descriptors (EMFILE, ENFILE): no pipes, the error above rejects (it had no
    // listener yet when reading a null stdout threw, and crashed the process).
    if (!child.stdout || !child.stderr || !child.stdin) return;
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined); // a remote that exits before reading its stdin
    child.stdin.end(opts.input ?? '');
    if (opts.timeoutMs) {
      timer = setTimeout(() => finish(() => {
        child.kill('SIGKILL');
        child.stdout.destroy();
        child.stderr.destroy();
        reject(new SshError(`${opts.what ?? 'the host'} did not answer in ${(opts.timeoutMs! / 1000).toFixed(1)} s`, 'timeout'));
      }), opts.timeoutMs);
    }
    child.on('close', (code, signal) => finish(() => {
      // Killed by a signal: 128 + its number, as a shell says it (and runSshMany, whose bash reports it).
      const status = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1);
      const r = sshOutcome(Buffer.concat(out).toString('utf8'), Buffer.concat(err).toString('utf8'), status, opts.what);
      if (r instanceof SshError) reject(r);
      else resolve(r);
    }));
  });
}

/** What one ssh run came to: its result, or the SshError when ssh itself failed (exit 255). */
function sshOutcome(stdout: string, stderr: string, exitCode: number, what = 'the host'): SshResult | SshError {
  const cause = classify(stderr, exitCode);
  return cause ? new SshError(`${what}: ${lastLine(stderr) || 'ssh failed'}`, cause, stderr, exitCode) : { stdout, stderr, exitCode };
}

const NO_SSH = 'ssh is not installed (or not on PATH): hosts are reached with OpenSSH\'s ssh; install it (Debian/Ubuntu: apt-get install openssh-client)';

/** Host k's standard output and error in the fan-out shell: the pipes after its own stdin, stdout and stderr. */
const outFd = (k: number) => 3 + 2 * k;
const errFd = (k: number) => 4 + 2 * k;
/** Hosts per fan-out bash (see runSshMany). */
const FAN_OUT_MAX = 32;

/**
 * The bash script that runs n commands at once, each given as its length and then its words (data,
 * never code: "${@:1:$n}"); command k writes into pipes outFd(k) and errFd(k) only (every other
 * pipe closed in it, so each pipe ends with its own command), and its status is the line "k status"
 * on the script's output once it ended. Made of digits and fixed words alone. bash itself then
 * waits on its stdin (see the last lines).
 */
export function fanOutScript(n: number): string {
  const fds = Array.from({ length: 2 * n }, (_, i) => i + 3);
  const closed = (except: number[]) => fds.filter((fd) => !except.includes(fd)).map((fd) => `${fd}>&-`).join(' ');
  const one = (k: number) => {
    const o = outFd(k);
    const e = errFd(k);
    return `n=$1; shift; ( exec ${closed([o, e])}; "\${@:1:$n}" </dev/null >&${o} 2>&${e} ${o}>&- ${e}>&-; echo "${k} $?" ) & shift "$n"`;
  };
  // Then bash keeps only its stdin, a pipe from the asking process: a line on it when that process
  // has every answer (bash then waits for its subshells, which are ending, and exits), its end
  // without a line when that process died (bash kills the group). Each subshell writes its own status.
  // TMOUT (exported by hardened profiles) would end that read early: unset here, ssh still gets it.
  return `${Array.from({ length: n }, (_, k) => one(k)).join('\n')}\nexec ${closed([])} 1>&-\nunset TMOUT\nif read -r _; then wait; else kill -KILL 0; fi\n`;
}

/**
 * Several ssh runs at once (stdin empty), started by one process: forked from a large process such as
 * this one each start costs milliseconds, and one after another they held every later host back (5
 * hosts: the last one's ssh began ~25 ms after the first). One bash starts them side by side. Each
 * result as runSsh would give it (an SshError when ssh failed); `timeoutMs` is one deadline for all:
 * whatever has not ended by then is killed (the whole group: bash, the ssh clients it started), and
 * so is all of it when this process dies first.
 */
export function runSshMany(argvs: readonly (readonly string[])[], env: NodeJS.ProcessEnv, opts: { timeoutMs?: number; whats?: readonly string[] } = {}): Promise<(SshResult | Error)[]> {
  // No host: nothing would ever settle one (the promise ends with the last host's answer).
  if (argvs.length === 0) return Promise.resolve([]);
  const what = (k: number) => opts.whats?.[k] ?? 'the host';
  const ssh = resolveExecutable('ssh', env);
  // Not on PATH: runSsh says whether it is there (spawn also looks in the system's default path
  // when the environment has no PATH) and says NO_SSH when it is not.
  if (!ssh) return oneByOne(argvs, env, opts);
  // The script names every other host's pipes in each host's line: it grows as n², and past ~95
  // hosts it is more than one argument may hold (Linux: 128 KiB, spawn E2BIG). So at most
  // FAN_OUT_MAX hosts per bash (~15 KiB of script), the groups side by side, each with the deadline.
  if (argvs.length > FAN_OUT_MAX) {
    const groups = Array.from({ length: Math.ceil(argvs.length / FAN_OUT_MAX) }, (_, g) => g * FAN_OUT_MAX);
    return Promise.all(groups.map((from) => runSshMany(argvs.slice(from, from + FAN_OUT_MAX), env, { ...opts, whats: opts.whats?.slice(from, from + FAN_OUT_MAX) })))
      .then((parts) => parts.flat());
  }
  const bash = resolveExecutable('bash', env);
  // No bash (Alpine, a minimal container, ssh without bash): each host's ssh started by Node, as before.
  if (!bash) return oneByOne(argvs, env, opts);
  return new Promise((resolve) => {
    const n = argvs.length;
    const words = argvs.flatMap((argv) => [String(argv.length + 1), ssh, ...argv]);
    let child;
    try {
      // -p: the caller's BASH_ENV (read by every non-interactive bash: it may print a line like a
      // status or `set -e`), exported functions (one named `shift` or `echo` would replace the
      // builtin) and SHELLOPTS are not taken in, so the script runs as written (bash 3.2 too);
      // they stay in the environment ssh gets, as when ssh runs directly.
      // --norc: its stdin is a socket (Node's pipes are socket pairs), and a non-interactive bash
      // whose stdin is a socket takes itself for one sshd started: with SHLVL unset or 0 (a
      // process not started from a shell: an extension host, a service) it ran ~/.bashrc first,
      // -p or not. What that does came before every host's answer, and the bashes it starts take in
      // what -p kept out of this one: pyenv's `pyenv init` never ended with an exported `shift`
      // (its option loop), and rehashes under a lock every such bash waits for, up to 60 s.
      child = spawn(bash, ['--norc', '-p', '-c', fanOutScript(n), 'resilient-agent-ssh', ...words], {
        env, detached: true, stdio: ['pipe', 'pipe', 'ignore', ...Array.from({ length: 2 * n }, () => 'pipe' as const)],
      });
    } catch (e) {
      // Not started at all (E2BIG: the argvs together too long): every host fails with it, as
      // runSsh's own spawn would (a rejection here would leave an SshBatch's runs unsettled).
      resolve(argvs.map(() => e as Error));
      return;
    }
    const hosts = argvs.map(() => ({ out: [] as Buffer[], err: [] as Buffer[], open: 2, status: undefined as number | undefined, result: undefined as SshResult | Error | undefined }));
    let left = n;
    let timer: NodeJS.Timeout | undefined;
    // detached (its own session, for the deadline's kill): a terminal's Ctrl-C no longer reaches
    // these ssh, so the group lives while this pipe does: a line and its end here once every host
    // answered, its end alone by the system when this process dies (the script then kills the group).
    child.stdin?.on('error', () => undefined);
    const settle = (k: number, result: SshResult | Error) => {
      if (hosts[k].result) return;
      hosts[k].result = result;
      if (--left > 0) return;
      clearTimeout(timer);
      child.stdin?.end('\n');
      resolve(hosts.map((h) => h.result!));
    };
    const check = (k: number) => {
      const h = hosts[k];
      if (h.open === 0 && h.status !== undefined) settle(k, sshOutcome(Buffer.concat(h.out).toString('utf8'), Buffer.concat(h.err).toString('utf8'), h.status, what(k)));
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      // The bash found could not be started (its interpreter or loader missing: ENOENT; not
      // runnable: EACCES): each host asked through its own ssh, as without bash.
      if (left === n && (e.code === 'ENOENT' || e.code === 'EACCES')) {
        left = 0;
        clearTimeout(timer);
        hosts.forEach((h) => (h.result = e));
        resolve(oneByOne(argvs, env, opts));
        return;
      }
      hosts.forEach((_, k) => settle(k, e));
    });
    // Out of file descriptors (EMFILE, ENFILE): no pipes were made, the error above says it to every host.
    if (!child.stdio) return;
    hosts.forEach((h, k) => {
      for (const [fd, into] of [[outFd(k), h.out], [errFd(k), h.err]] as const) {
        const stream = child.stdio[fd] as NodeJS.ReadableStream;
        stream.on('data', (d: Buffer) => into.push(d));
        stream.on('close', () => {
          h.open--;
          check(k);
        });
      }
    });
    let carry = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (carry + d).split('\n');
      carry = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^(\d+) (\d+)$/.exec(line);
        if (!m || !hosts[Number(m[1])]) continue;
        hosts[Number(m[1])].status = Number(m[2]);
        check(Number(m[1]));
      }
    });
    // Ended with a host's status never said (bash killed): that host failed.
    child.on('close', () => setImmediate(() => hosts.forEach((h, k) => {
      if (h.status === undefined) settle(k, new SshError(`${what(k)}: ssh ended without a status`, 'unreachable'));
    })));
    if (opts.timeoutMs) {
      timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* all ended just now */
        }
        hosts.forEach((_, k) => settle(k, new SshError(`${what(k)} did not answer in ${(opts.timeoutMs! / 1000).toFixed(1)} s`, 'timeout')));
        for (const s of child.stdio) (s as NodeJS.ReadableStream & { destroy?: () => void } | null)?.destroy?.();
      }, opts.timeoutMs);
    }
  });
}

/** runSshMany's answer without a fan-out bash: one runSsh per host, started by Node. */
function oneByOne(argvs: readonly (readonly string[])[], env: NodeJS.ProcessEnv, opts: { timeoutMs?: number; whats?: readonly string[] }): Promise<(SshResult | Error)[]> {
  return Promise.all(argvs.map((argv, k) => runSsh(argv, env, { timeoutMs: opts.timeoutMs, what: opts.whats?.[k] }).catch((e: Error) => e)));
}

/** Prepares the socket folder; call before the first shared connection. */
export function prepareControlDir(home: string): void {
  privateDir(controlDir(home));
}

/**
 * Runs asked for in the same moment go out together: gathered until the current task's end (a
 * microtask), then all through runSshMany, or one alone through runSsh. Every run has the batch's deadline.
 */
export class SshBatch {
  private pending: { argv: readonly string[]; what?: string; resolve: (r: SshResult) => void; reject: (e: unknown) => void }[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv, private readonly timeoutMs?: number) {}

  run(argv: readonly string[], what?: string): Promise<SshResult> {
    return new Promise((resolve, reject) => {
      if (this.pending.push({ argv, what, resolve, reject }) === 1) queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 1) {
      runSsh(batch[0].argv, this.env, { timeoutMs: this.timeoutMs, what: batch[0].what }).then(batch[0].resolve, batch[0].reject);
      return;
    }
    void runSshMany(batch.map((b) => b.argv), this.env, { timeoutMs: this.timeoutMs, whats: batch.map((b) => b.what ?? 'the host') })
      .then((results) => results.forEach((r, i) => (r instanceof Error ? batch[i].reject(r) : batch[i].resolve(r))), (e) => batch.forEach((b) => b.reject(e)));
  }
}
