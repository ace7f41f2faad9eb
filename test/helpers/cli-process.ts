import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The two ways people run it: `npm run vmconsole` in a checkout (TypeScript), and the installed bin (the bundle vitest's global setup builds). */
export const CLI_LAUNCHERS = {
  checkout: [join(ROOT, 'lib/cli/main.ts')],
  installed: [join(ROOT, 'bin/vmconsole.cjs')],
} as const;
export type CliLauncher = readonly string[];

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout as bytes (a PNG on `-o -`). */
  stdoutBytes: Buffer;
}

export interface CliRunOptions {
  /** The whole environment besides PATH (no OS_* or VMCONSOLE_* of the test's own leaks in). */
  env?: Record<string, string>;
  cwd?: string;
  stdin?: Buffer | string;
  launcher?: CliLauncher;
  timeoutMs?: number;
  /** Called with the child once it runs (to signal it: Ctrl-C is SIGINT). */
  onSpawn?: (child: ChildProcess) => void;
}

/** The environment a CLI process gets: PATH and HOME (a test gives its own HOME so no ~/.config/openstack/clouds.yaml is read), then `env`. */
export function cliEnv(env: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', LANG: 'C.UTF-8', ...env };
}

/** `vmconsole ...` as a real process with pipes (not a terminal). */
export function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.launcher ?? CLI_LAUNCHERS.installed), ...args], {
      cwd: options.cwd ?? ROOT, env: cliEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, stdout: stdoutBytes.toString('utf8'), stderr, stdoutBytes });
    });
    child.stdin.end(options.stdin ?? '');
    options.onSpawn?.(child);
  });
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * `vmconsole ...` in a real terminal: util-linux `script` gives it a pty for stdin, stdout and
 * stderr (so isTTY is true, as in a shell). `output` is everything the terminal received, both
 * streams, escape sequences included; `code` the command's own exit code (`script -e`).
 */
export function runCliInTerminal(args: readonly string[], options: Omit<CliRunOptions, 'stdin'> = {}): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, ...(options.launcher ?? CLI_LAUNCHERS.installed), ...args].map(shellQuote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: options.cwd ?? ROOT, env: cliEnv({ TERM: 'xterm', ...options.env }), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end();
  });
}
