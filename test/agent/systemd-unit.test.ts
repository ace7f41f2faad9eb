import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AGENT_BIN } from '../../lib/agent/agent-command.ts';
import { EXIT_CONFIG } from '../../lib/agent/exit-codes.ts';

const UNIT = new URL('../../deploy/vmconsole-agent.service', import.meta.url);

/** `[Section] Key=value` lines; repeated keys keep every value, as systemd does for lists. */
function parseUnit(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = '';
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1]!;
    else {
      const [key, ...value] = line.split('=');
      const name = `${section}.${key}`;
      keys.set(name, [...(keys.get(name) ?? []), value.join('=')]);
    }
  }
  return keys;
}

describe('deploy/vmconsole-agent.service', () => {
  it('runs the agent as the vmconsole user in the libvirt group, hardened, with its environment file', async () => {
    const unit = parseUnit(await readFile(UNIT, 'utf8'));
    const one = (key: string) => unit.get(`Service.${key}`)?.join(' ');
    expect(one('User')).toBe('vmconsole');
    expect(one('SupplementaryGroups')).toBe('libvirt');
    expect(one('EnvironmentFile')).toBe('/etc/vmconsole/agent.env');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ProtectHome')).toBe('yes');
    expect(one('PrivateTmp')).toBe('yes');
    // The capability that lets it read root-only logs also bypasses permissions elsewhere: it sees
    // nothing of /var/lib and /var/log but the log roots, read-only, and none of the host's secrets.
    expect(one('TemporaryFileSystem')?.split(/\s+/)).toEqual(['/var/lib:ro', '/var/log:ro']);
    expect(one('BindReadOnlyPaths')?.split(/\s+/)).toEqual(['-/var/log/libvirt/qemu', '-/var/lib/nova/instances']);
    expect(one('InaccessiblePaths')?.split(/\s+/)).toEqual(expect.arrayContaining(['-/etc/shadow', '-/etc/nova', '-/etc/libvirt']));
    expect(unit.has('Service.ReadWritePaths')).toBe(false);
    expect(one('RestrictAddressFamilies')?.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
    expect(one('Restart')).toBe('always');
    expect(Number(one('RestartSec'))).toBeGreaterThan(0);
    expect(one('RestartPreventExitStatus')).toBe(String(EXIT_CONFIG));
    expect(unit.has('Service.MemoryDenyWriteExecute')).toBe(false);
    expect(one('ExecStart')).toMatch(/\/bin\/vmconsole-agent\.cjs$/);
  });

  it('passes systemd-analyze verify (ExecStart pointed at this checkout\'s bin)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vmconsole-unit-'));
    try {
      const unitPath = join(dir, 'vmconsole-agent.service');
      const text = (await readFile(UNIT, 'utf8')).replace(/^ExecStart=.*$/m, `ExecStart=${AGENT_BIN}`);
      await writeFile(unitPath, text);
      const { stderr } = await promisify(execFile)('systemd-analyze', ['verify', unitPath], { cwd: dir });
      expect(stderr).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
