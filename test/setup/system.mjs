// Makes sure the system tools the tests drive are present: real tmux (integration), and for the
// tests inside a real VS Code, Debian's chromium and libkrb5-dev (a native module of code-server),
// systemd's tools for the supervisor's unit file, and OpenSSH's server (the hosts' tests start sshd on loopback).
// Installs them with apt-get when run as root on Debian/Ubuntu; otherwise says what to install.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const wanted = [
  { pkg: 'tmux', present: () => spawnSync('tmux', ['-V']).status === 0 },
  { pkg: 'chromium', present: () => existsSync('/usr/bin/chromium') },
  { pkg: 'libkrb5-dev', present: () => existsSync('/usr/include/gssapi/gssapi.h') || existsSync('/usr/include/gssapi.h') },
  // systemctl and systemd-analyze: the supervisor's systemd unit is written and verified for real.
  { pkg: 'systemd', present: () => spawnSync('systemd-analyze', ['--version']).status === 0 },
  // sshd and ssh: remote hosts are driven over real OpenSSH, each test host an sshd of its own.
  { pkg: 'openssh-server', present: () => existsSync('/usr/sbin/sshd') },
  { pkg: 'openssh-client', present: () => spawnSync('ssh', ['-V']).status === 0 },
];

const missing = wanted.filter((w) => !w.present()).map((w) => w.pkg);
if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('apt-get', ['--version']).status === 0;
if (!isRoot || !hasApt) {
  console.error(`The tests need: ${missing.join(', ')}. Install them (e.g. sudo apt-get install -y ${missing.join(' ')}) and run again.`);
  process.exit(1);
}
console.error(`installing ${missing.join(', ')} with apt-get`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
