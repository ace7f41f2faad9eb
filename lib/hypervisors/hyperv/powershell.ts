import { execFile } from 'node:child_process';
import { VmconsoleError } from '../../errors.ts';

/**
 * The one script the driver runs: every VM with its state, notes, security flags and COM ports,
 * as JSON. It takes no input at all, so no VM name (nor anything else a tenant or a VM's
 * configuration controls) is ever part of a command: the driver filters in TypeScript. Enum
 * values are turned into their names here (`State` is an enum that ConvertTo-Json prints as a
 * number in Windows PowerShell 5.1 and as a name in some PowerShell 7 releases), and the list is
 * always an array (`-InputObject`), even with one VM or none. Output is UTF-8 so VM names
 * outside the OEM code page survive.
 */
export const DISCOVERY_SCRIPT = [
  "$ErrorActionPreference = 'Stop'",
  "$ProgressPreference = 'SilentlyContinue'",
  '[Console]::OutputEncoding = [System.Text.Encoding]::UTF8',
  '$vms = @(Get-VM | ForEach-Object {',
  '  $vm = $_',
  '  $security = $null',
  // Get-VMSecurity exists from Windows Server 2016 and answers for generation 2 VMs: elsewhere a VM is not shielded.
  '  try { $security = Get-VMSecurity -VM $vm -ErrorAction Stop } catch { $security = $null }',
  '  [pscustomobject]@{',
  '    Name = [string]$vm.Name',
  '    Id = $vm.Id.ToString()',
  '    State = $vm.State.ToString()',
  '    Notes = [string]$vm.Notes',
  '    Shielded = [bool]($security -and $security.Shielded)',
  '    EncryptStateAndVmMigrationTraffic = [bool]($security -and $security.EncryptStateAndVmMigrationTraffic)',
  '    ComPorts = @(Get-VMComPort -VM $vm | ForEach-Object { [pscustomobject]@{ Name = [string]$_.Name; Path = [string]$_.Path } })',
  '  }',
  '})',
  'ConvertTo-Json -InputObject $vms -Depth 4 -Compress',
].join('\n');

/** The fixed arguments: no profile (an operator's profile must not change the output), no prompts. */
export function powershellArguments(script: string): string[] {
  // -EncodedCommand takes base64 of UTF-16LE: the script crosses the Windows command line
  // without any quoting rules applying to it.
  return ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand', Buffer.from(script, 'utf16le').toString('base64')];
}

export interface PowerShellOptions {
  /** VMCONSOLE_POWERSHELL: `powershell.exe` (Windows PowerShell 5.1) or `pwsh.exe`. */
  executable: string;
  /** A PowerShell that takes longer is killed; the caller keeps what it knew. */
  timeoutMs?: number;
  /** Output beyond this is not a VM list worth parsing (1,000 VMs print about 0.5 MB). */
  maxOutputBytes?: number;
}

export const DEFAULT_POWERSHELL_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_OUTPUT_BYTES = 32 * 1024 * 1024;

/**
 * Runs `script` and returns its output parsed as JSON (null when it printed nothing). Every failure is a VmconsoleError
 * (Internal) whose detail says what went wrong in words an operator can act on: the executable
 * missing, the exit code and the first lines of stderr, a timeout, too much output, or output
 * that is not JSON (with its beginning).
 */
export function runPowerShellJson(script: string, options: PowerShellOptions, signal?: AbortSignal): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_POWERSHELL_TIMEOUT_MS;
  const maxBuffer = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const exe = options.executable;
  return new Promise((resolve, reject) => {
    const fail = (detail: string, cause?: unknown) =>
      reject(new VmconsoleError('Internal', 'the hypervisor could not be asked for its VMs', { detail, cause }));
    execFile(exe, powershellArguments(script), { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer, windowsHide: true, encoding: 'buffer', ...(signal && { signal }) }, (err, out, errOut) => {
      const stderr = decodeOutput(errOut);
      if (err) {
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: unknown };
        if (e.code === 'ENOENT') return fail(`PowerShell executable '${exe}' was not found (set VMCONSOLE_POWERSHELL)`, err);
        if (e.code === 'EACCES') return fail(`PowerShell executable '${exe}' cannot be run by the agent (permission denied)`, err);
        if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return fail(`PowerShell printed more than ${maxBuffer} bytes; not a VM list`, err);
        if (e.name === 'AbortError') return fail('PowerShell was stopped: the agent is stopping', err);
        if (e.killed) return fail(`PowerShell did not answer within ${timeoutMs / 1000} s and was killed`, err);
        return fail(`PowerShell exited with ${typeof e.code === 'number' ? `code ${e.code}` : `signal ${e.signal}`}: ${firstLines(stderr) || '(nothing on stderr)'}`, err);
      }
      const text = decodeOutput(out).trim();
      // Nothing at all is what a pipeline of no objects prints (`Get-VM | ConvertTo-Json` on a
      // host without VMs); DISCOVERY_SCRIPT itself prints `[]` there. Taken as JSON's null.
      if (text === '') return resolve(null);
      try {
        resolve(JSON.parse(withoutHostMessages(text)));
      } catch (parseError) {
        fail(`PowerShell printed something that is not JSON (${(parseError as Error).message}); it began: ${JSON.stringify(text.slice(0, 160))}`, parseError);
      }
    });
  });
}

/**
 * PowerShell's output as text: UTF-8 (what DISCOVERY_SCRIPT sets), with or without a BOM, or
 * UTF-16LE when it starts with that BOM (what Windows PowerShell 5.1's `Out-File` and `>` write,
 * should an operator's wrapper pass a file through).
 */
function decodeOutput(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return bytes.subarray(3).toString('utf8');
  return bytes.toString('utf8');
}

/**
 * The output without the lines PowerShell's console host writes to a redirected stdout ahead of
 * it (`WARNING: ...`, `VERBOSE: ...`, `DEBUG: ...`, from a module's import or a cmdlet). Only
 * messages and no JSON stays as it is: that is not an empty VM list.
 */
function withoutHostMessages(text: string): string {
  const lines = text.split(/\r?\n/);
  const first = lines.findIndex((line) => !/^(WARNING|VERBOSE|DEBUG): /.test(line));
  return first <= 0 ? text : lines.slice(first).join('\n');
}

function firstLines(text: string): string {
  return text.trim().split(/\r?\n/).slice(0, 3).join(' | ').slice(0, 500);
}
