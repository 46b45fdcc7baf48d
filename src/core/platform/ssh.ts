import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');

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
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => finish(() => reject(e.code === 'ENOENT'
      ? new SshError('ssh is not installed (or not on PATH): hosts are reached with OpenSSH\'s ssh; install it (Debian/Ubuntu: apt-get install openssh-client)', 'no-ssh')
      : e)));
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
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      const exitCode = code ?? (signal ? 128 : 1);
      const cause = classify(stderr, exitCode);
      if (cause) reject(new SshError(`${opts.what ?? 'the host'}: ${lastLine(stderr) || 'ssh failed'}`, cause, stderr, exitCode));
      else resolve({ stdout, stderr, exitCode });
    }));
  });
}

/** Prepares the socket folder; call before the first shared connection. */
export function prepareControlDir(home: string): void {
  privateDir(controlDir(home));
}
