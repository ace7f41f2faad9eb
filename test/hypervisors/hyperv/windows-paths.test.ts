import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentConfigError, readAgentConfig } from '../../../lib/agent/config.ts';
import { insideRoots } from '../../../lib/console/open-confined.ts';

// A Hyper-V host's agent runs on Windows: its roots and instances dir are `C:\...` paths and its
// path lists are split at ';'. These rules are checked here with path.win32, on Linux.
const base = { VMCONSOLE_HOST: 'hv-1', VMCONSOLE_TABLE: 'vmconsole-directory', VMCONSOLE_DRIVER: 'hyperv' };

const problemsOf = (env: Record<string, string>, p = path.win32) => {
  try {
    readAgentConfig(env, p);
    return [];
  } catch (err) {
    return (err as AgentConfigError).problems;
  }
};

describe('Hyper-V configuration with Windows paths', () => {
  it('takes a drive-letter instances dir and uses it as the log root when none is given', () => {
    const config = readAgentConfig({ ...base, VMCONSOLE_INSTANCES_DIR: 'C:\\OpenStack\\Instances' }, path.win32);
    expect(config.driver).toEqual({
      kind: 'hyperv', instancesDir: 'C:\\OpenStack\\Instances', powershell: 'powershell.exe',
      pipePathTemplate: '\\\\.\\pipe\\{uuid}_{type}', logCapBytes: 512 * 1024, pollMs: 10_000, collect: true,
    });
    expect(config.logRoots).toEqual(['C:\\OpenStack\\Instances']);
  });

  it('splits VMCONSOLE_LOG_ROOTS at \';\' (every drive letter has a \':\'), forward slashes and UNC shares included', () => {
    const config = readAgentConfig({ ...base, VMCONSOLE_INSTANCES_DIR: 'D:\\vm', VMCONSOLE_LOG_ROOTS: 'C:\\OpenStack\\Instances;D:/logs/serial;\\\\filer\\share\\logs' }, path.win32);
    expect(config.logRoots).toEqual(['C:\\OpenStack\\Instances', 'D:\\logs\\serial', '\\\\filer\\share\\logs']);
  });

  it('refuses relative and drive-relative paths, and a hyperv agent without an instances dir', () => {
    expect(problemsOf({ ...base, VMCONSOLE_INSTANCES_DIR: 'Instances' })).toEqual([expect.stringMatching(/^VMCONSOLE_INSTANCES_DIR must be an absolute path/)]);
    expect(problemsOf({ ...base, VMCONSOLE_INSTANCES_DIR: 'C:Instances' })).toEqual([expect.stringMatching(/^VMCONSOLE_INSTANCES_DIR must be an absolute path/)]);
    expect(problemsOf({ ...base, VMCONSOLE_INSTANCES_DIR: 'C:\\x', VMCONSOLE_LOG_ROOTS: 'C:\\x;logs' })).toEqual([expect.stringMatching(/^VMCONSOLE_LOG_ROOTS must be a colon-separated list of absolute paths \(semicolon-separated on Windows\)/)]);
    expect(problemsOf(base)).toEqual([expect.stringMatching(/^VMCONSOLE_INSTANCES_DIR is required for the hyperv driver/)]);
  });

  it('checks the Hyper-V settings it reads', () => {
    const env = { ...base, VMCONSOLE_INSTANCES_DIR: 'C:\\i' };
    expect(problemsOf({ ...env, VMCONSOLE_HYPERV_LOG_CAP_BYTES: '100' })).toEqual([expect.stringMatching(/^VMCONSOLE_HYPERV_LOG_CAP_BYTES must be an integer from 4096/)]);
    expect(problemsOf({ ...env, VMCONSOLE_HYPERV_POLL_MS: '10' })).toEqual([expect.stringMatching(/^VMCONSOLE_HYPERV_POLL_MS must be an integer from 1000/)]);
    expect(problemsOf({ ...env, VMCONSOLE_HYPERV_COLLECT: 'yes' })).toEqual([expect.stringMatching(/^VMCONSOLE_HYPERV_COLLECT must be on or off/)]);
    expect(readAgentConfig({ ...env, VMCONSOLE_HYPERV_COLLECT: 'off' }, path.win32).driver).toMatchObject({ collect: false });
    expect(problemsOf({ ...env, VMCONSOLE_HYPERV_PIPE_PATH: '\\\\.\\pipe\\fixed' })).toEqual([expect.stringMatching(/^VMCONSOLE_HYPERV_PIPE_PATH must contain \{uuid\} or \{name\}/)]);
    const tuned = readAgentConfig({ ...env, VMCONSOLE_POWERSHELL: 'C:\\Program Files\\PowerShell\\7\\pwsh.exe', VMCONSOLE_HYPERV_LOG_CAP_BYTES: '1048576', VMCONSOLE_HYPERV_POLL_MS: '2000' }, path.win32);
    expect(tuned.driver).toMatchObject({ powershell: 'C:\\Program Files\\PowerShell\\7\\pwsh.exe', logCapBytes: 1048576, pollMs: 2000 });
  });

  it('on Linux the same driver takes POSIX paths split at \':\' (how the tests run it)', () => {
    const config = readAgentConfig({ ...base, VMCONSOLE_INSTANCES_DIR: '/srv/hv', VMCONSOLE_LOG_ROOTS: '/srv/hv:/srv/old' }, path.posix);
    expect(config.logRoots).toEqual(['/srv/hv', '/srv/old']);
    expect(problemsOf({ ...base, VMCONSOLE_INSTANCES_DIR: 'C:\\OpenStack' }, path.posix)).toEqual([expect.stringMatching(/^VMCONSOLE_INSTANCES_DIR must be an absolute path/)]);
  });
});

describe('log-root confinement with Windows paths', () => {
  const roots = ['C:\\OpenStack\\Instances'];

  it('a log inside the root, whatever the case of its letters (Windows file names ignore case)', () => {
    expect(insideRoots('C:\\OpenStack\\Instances\\instance-0000000a\\console.log', roots, path.win32)).toBe(true);
    expect(insideRoots('c:\\openstack\\instances\\instance-0000000a\\console.log.1', roots, path.win32)).toBe(true);
    expect(insideRoots('C:\\OpenStack\\Instances', roots, path.win32)).toBe(true);
    expect(insideRoots('C:\\OpenStack\\Instances\\', ['C:\\OpenStack\\Instances\\'], path.win32)).toBe(true);
  });

  it('a sibling with the same prefix, another drive or a forward-slash look-alike is outside', () => {
    expect(insideRoots('C:\\OpenStack\\Instances2\\x\\console.log', roots, path.win32)).toBe(false);
    expect(insideRoots('D:\\OpenStack\\Instances\\x\\console.log', roots, path.win32)).toBe(false);
    expect(insideRoots('C:\\OpenStack\\Instances/../secrets', roots, path.win32)).toBe(false);
  });

  it('only ASCII letters are folded: a look-alike JavaScript folds but NTFS does not (the Kelvin sign) is outside', () => {
    // NTFS compares names through its upcase table, where U+212A stays itself and k becomes K.
    expect(insideRoots('C:\\OpenStac\u212A\\Instances\\x\\console.log', roots, path.win32)).toBe(false);
    expect(insideRoots('C:\\OPENSTACK\\INSTANCES\\x\\console.log', roots, path.win32)).toBe(true);
  });

  it('\\\\?\\ and \\\\?\\UNC\\ name the same files as the paths without them; trailing separators and drive roots', () => {
    expect(insideRoots('\\\\?\\C:\\OpenStack\\Instances\\x\\console.log', roots, path.win32)).toBe(true);
    expect(insideRoots('C:\\OpenStack\\Instances\\x\\console.log', ['\\\\?\\c:\\openstack\\instances'], path.win32)).toBe(true);
    expect(insideRoots('\\\\?\\UNC\\filer\\share\\logs\\x\\console.log', ['\\\\filer\\share\\logs'], path.win32)).toBe(true);
    expect(insideRoots('\\\\?\\D:\\OpenStack\\Instances\\x', roots, path.win32)).toBe(false);
    expect(insideRoots('C:\\OpenStack\\Instances', ['C:\\OpenStack\\Instances\\'], path.win32)).toBe(true);
    expect(insideRoots('c:\\x\\console.log', ['C:\\'], path.win32)).toBe(true);
    expect(insideRoots('D:\\x\\console.log', ['C:\\'], path.win32)).toBe(false);
  });

  it('on Linux case still matters', () => {
    expect(insideRoots('/var/lib/nova/instances/x/console.log', ['/var/lib/nova/instances'], path.posix)).toBe(true);
    expect(insideRoots('/VAR/lib/nova/instances/x/console.log', ['/var/lib/nova/instances'], path.posix)).toBe(false);
  });
});
