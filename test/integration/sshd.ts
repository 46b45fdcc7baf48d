import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { processesWithEnv } from '../tools/processes';
import { Harness, waitFor, writeFixtureBin } from './harness';

const SSHD = '/usr/sbin/sshd';

/** A free loopback port (the kernel's pick, released for sshd to take). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Every process below `pid` (sshd's per-connection children lead sessions of their own). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone meanwhile */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * A machine reached over real OpenSSH: an sshd of its own on a loopback port with its own host
 * key, the test's user key in a test-only authorized_keys, and (through sshd's SetEnv) a HOME,
 * state dir, tmux server and fixture agents of its own: a second machine as far as the product
 * can tell. Its tasks' processes are found by its state dir and ended with the test.
 */
export class SshHost {
  readonly dir: string;
  readonly home: string;
  readonly state: string;
  readonly bin: string;
  readonly socket: string;
  readonly tmuxDir: string;
  port = 0;
  sshd?: ChildProcess;
  private log = '';

  constructor(readonly world: SshWorld, readonly name: string, readonly options: { maxSessions?: number } = {}) {
    this.dir = path.join(world.root, 'hosts', name);
    this.home = path.join(this.dir, 'home');
    this.state = path.join(this.dir, 'state');
    this.bin = writeFixtureBin(path.join(this.dir, 'bin'));
    this.socket = `ra-ssh-${name}-${process.pid}`;
    this.tmuxDir = path.join(this.dir, 'tmux');
    fs.mkdirSync(this.home, { recursive: true });
    fs.mkdirSync(this.tmuxDir, { mode: 0o700 });
    fs.mkdirSync(this.state, { recursive: true, mode: 0o700 });
    // Supervision is driven by the tests, as in the local harness.
    fs.writeFileSync(path.join(this.state, 'config.json'), JSON.stringify({ 'supervisor.mode': 'window' }));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `host ${name}`, '-f', path.join(this.dir, 'host_key')]);
  }

  /** What this machine's ssh sessions run with: its own HOME, state dir, tmux server, agents. */
  get sessionEnv(): Record<string, string> {
    return {
      HOME: this.home,
      RESILIENT_AGENT_HOME: this.state,
      RESILIENT_AGENT_TMUX_SOCKET: this.socket,
      TMUX_TMPDIR: this.tmuxDir,
      FIXTURE_HOME: path.join(this.dir, 'fixture-home'),
      PATH: `${this.bin}:${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      LANG: 'C.UTF-8',
    };
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    const config = path.join(this.dir, 'sshd_config');
    fs.writeFileSync(config, [
      `Port ${this.port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(this.dir, 'host_key')}`,
      `PidFile ${path.join(this.dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${this.world.authorizedKeys}`,
      // The test's folders are made by the test (mode and owner as mkdtemp leaves them).
      'StrictModes no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      `MaxSessions ${this.options.maxSessions ?? 10}`,
      'MaxStartups 100:30:200',
      `SetEnv ${Object.entries(this.sessionEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`,
      'LogLevel ERROR',
      '',
    ].join('\n'));
    if (process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    this.log = '';
    const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (this.log += d));
    child.stderr!.on('data', (d) => (this.log += d));
    this.sshd = child;
    // Listening once a connection is taken (sshd -D says nothing at LogLevel ERROR).
    await waitFor(() => new Promise<boolean>((resolve) => {
      if (child.exitCode !== null) throw new Error(`sshd exited ${child.exitCode}: ${this.log}`);
      const s = net.connect(this.port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    }), `sshd of ${this.name} listening`);
  }

  private processes(): number[] {
    return this.sshd?.pid ? [this.sshd.pid, ...descendants(this.sshd.pid)] : [];
  }

  /** The machine drops off the network: its sshd and every connection it serves killed. */
  async kill(): Promise<void> {
    const child = this.sshd;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    signalAll(this.processes().filter((p) => !this.isTask(p)), 'SIGKILL');
    await exited;
  }

  /** The machine hangs: its sshd and its connections stopped (SIGSTOP), resumed by `cont`. */
  stop(): void {
    signalAll(this.processes().filter((p) => !this.isTask(p)), 'SIGSTOP');
  }

  cont(): void {
    signalAll(this.processes(), 'SIGCONT');
  }

  /** A process of this host's tasks (tmux, agents) is not part of its ssh service. */
  private isTask(pid: number): boolean {
    try {
      return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`RESILIENT_AGENT_HOME=${this.state}`)
        && !fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sshd');
    } catch {
      return false;
    }
  }

  clientConfig(): string {
    return [
      `Host ${this.name}`,
      '  HostName 127.0.0.1',
      `  Port ${this.port}`,
      `  User ${os.userInfo().username}`,
      `  IdentityFile ${this.world.userKey}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${this.world.knownHosts}`,
      '  GlobalKnownHostsFile /dev/null',
      '  LogLevel ERROR',
      '',
    ].join('\n');
  }

  knownHostsLine(): string {
    const [type, key] = fs.readFileSync(path.join(this.dir, 'host_key.pub'), 'utf8').split(' ');
    return `[127.0.0.1]:${this.port} ${type} ${key}\n`;
  }

  async cleanup(): Promise<void> {
    this.cont();
    await this.kill();
    execFileSync('tmux', ['-L', this.socket, 'kill-server'], { env: { ...process.env, TMUX_TMPDIR: this.tmuxDir, TMUX: '' }, stdio: 'ignore' }).toString?.();
  }
}

/**
 * The local machine (a Harness) and any number of SshHosts, with a user key, a known_hosts and an
 * ssh config of the test's own (handed to the product as RESILIENT_AGENT_SSH_CONFIG: the person's
 * ~/.ssh is never read).
 */
export class SshWorld {
  readonly root: string;
  readonly userKey: string;
  readonly authorizedKeys: string;
  readonly knownHosts: string;
  readonly sshConfig: string;
  readonly hosts: SshHost[] = [];

  constructor(readonly local: Harness) {
    this.root = path.join(local.root, 'ssh');
    fs.mkdirSync(this.root, { mode: 0o700 });
    this.userKey = path.join(this.root, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'resilient-agent test', '-f', this.userKey]);
    this.authorizedKeys = path.join(this.root, 'authorized_keys');
    fs.copyFileSync(`${this.userKey}.pub`, this.authorizedKeys);
    this.knownHosts = path.join(this.root, 'known_hosts');
    this.sshConfig = path.join(this.root, 'ssh_config');
    local.env.RESILIENT_AGENT_SSH_CONFIG = this.sshConfig;
    local.env.RESILIENT_AGENT_SSH_CONNECT_TIMEOUT = '5';
  }

  /** A new host, its sshd started, known to the local ssh config (not yet to the product). */
  async host(name: string, options: { maxSessions?: number } = {}): Promise<SshHost> {
    const h = new SshHost(this, name, options);
    await h.start();
    this.hosts.push(h);
    this.writeClientFiles();
    return h;
  }

  writeClientFiles(): void {
    fs.writeFileSync(this.sshConfig, this.hosts.map((h) => h.clientConfig()).join('\n'), { mode: 0o600 });
    fs.writeFileSync(this.knownHosts, this.hosts.map((h) => h.knownHostsLine()).join(''), { mode: 0o600 });
  }

  /** Added to the product and its CLI installed there. */
  async installed(name: string, options: { maxSessions?: number } = {}): Promise<SshHost> {
    const h = await this.host(name, options);
    await this.local.ok(['hosts', 'add', name, name]);
    await this.local.ok(['hosts', 'install', name]);
    return h;
  }

  async cleanup(): Promise<void> {
    for (const h of this.hosts) {
      try {
        await h.cleanup();
      } catch {
        /* its tmux server was not running */
      }
      signalAll(processesWithEnv(`RESILIENT_AGENT_HOME=${h.state}`).filter((p) => p !== process.pid), 'SIGKILL');
    }
  }
}
