import * as assert from 'node:assert/strict';
import { sshConfigHosts } from '../../src/core/platform/sshConfigHosts';

describe('the Host entries of an ssh config ("Add host…")', () => {
  it('offers each concrete alias once, skipping patterns, comments and Match blocks', () => {
    const text = [
      '# my machines',
      'Host *',
      '  ServerAliveInterval 30',
      'Host workstation ws',
      '  HostName 10.0.0.2',
      'host  devbox-1 "quoted" # trailing comment',
      'Host=eq',
      'Host *.internal !bastion gpu?',
      'Match host foo',
      '  User me',
      'Hostname notahost',
      '  Host indented',
      'Host ws',
      '',
    ].join('\r\n');
    assert.deepEqual(sshConfigHosts(text), ['workstation', 'ws', 'devbox-1', 'quoted', 'eq', 'indented']);
  });

  it('an empty or host-less config offers nothing', () => {
    assert.deepEqual(sshConfigHosts(''), []);
    assert.deepEqual(sshConfigHosts('User me\nIdentityFile ~/.ssh/id\n'), []);
  });
});
