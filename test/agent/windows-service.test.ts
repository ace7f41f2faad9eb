import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { AGENT_NODE_FLAGS } from '../../lib/agent/agent-command.ts';
import { AGENT_VARIABLES, readAgentConfig } from '../../lib/agent/config.ts';

// What can be checked of the Windows service on Linux: the WinSW definition parses, runs the
// launcher with the same node flags as every other way of starting the agent, carries a complete
// hyperv configuration by Windows path rules, restarts on failure and rolls its logs. Whether
// WinSW and the SCM behave as documented needs a Windows host (README, "Hyper-V hosts").
const XML = new URL('../../deploy/windows/vmconsole-agent.xml', import.meta.url);

interface WinSwService {
  id: string;
  executable: string;
  arguments: string;
  depend: string;
  env: { '@_name': string; '@_value': string }[];
  logpath: string;
  log: { '@_mode': string; sizeThreshold: number; keepFiles: number };
  onfailure: { '@_action': string; '@_delay': string }[];
  resetfailure: string;
}

async function service(): Promise<WinSwService> {
  const parser = new XMLParser({ ignoreAttributes: false, isArray: (name) => name === 'env' || name === 'onfailure' });
  return (parser.parse(await readFile(XML, 'utf8')) as { service: WinSwService }).service;
}

describe('deploy/windows/vmconsole-agent.xml (WinSW)', () => {
  it('runs node.exe on the launcher with the launcher\'s own node flags (Windows ignores its shebang)', async () => {
    const s = await service();
    expect(s.id).toBe('vmconsole-agent');
    expect(s.executable).toMatch(/\\node\.exe$/);
    const args = s.arguments.split(/\s+/);
    expect(args.slice(0, -1)).toEqual([...AGENT_NODE_FLAGS.filter((f) => f !== '--no-maglev')]);
    expect(args.at(-1)).toBe('"%BASE%\\bin\\vmconsole-agent.cjs"');
    expect(s.depend).toBe('vmms');
  });

  it('names only variables the agent reads, and they make a valid hyperv configuration by Windows rules', async () => {
    const env = Object.fromEntries((await service()).env.map((e) => [e['@_name'], e['@_value']]));
    const known = new Set(AGENT_VARIABLES.map((v) => v.name));
    expect(Object.keys(env).filter((name) => !known.has(name))).toEqual([]);
    for (const required of AGENT_VARIABLES.filter((v) => v.required)) expect(env).toHaveProperty(required.name);
    const config = readAgentConfig(env, path.win32);
    expect(config.driver).toEqual({
      kind: 'hyperv', instancesDir: 'C:\\OpenStack\\Instances', powershell: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe',
      pipePathTemplate: '\\\\.\\pipe\\{uuid}_{type}', logCapBytes: 512 * 1024, pollMs: 10_000, collect: true,
    });
    expect(config.logRoots).toEqual(['C:\\OpenStack\\Instances']);
  });

  it('restarts the agent when it fails and rolls its log files', async () => {
    const s = await service();
    expect(s.onfailure.map((f) => f['@_action'])).toEqual(['restart', 'restart', 'restart']);
    expect(s.onfailure.every((f) => /^\d+ (sec|min)$/.test(f['@_delay']))).toBe(true);
    expect(s.resetfailure).toBe('1 hour');
    expect(s.log).toMatchObject({ '@_mode': 'roll-by-size', sizeThreshold: 10240, keepFiles: 8 });
    expect(s.logpath).toBe('%BASE%\\logs');
  });

  it('is shipped in the package next to the Linux unit', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('deploy/windows/');
  });
});
