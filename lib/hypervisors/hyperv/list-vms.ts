import { z } from 'zod';
import type { ServerState } from '../../contracts/records.ts';

/**
 * One VM as DISCOVERY_SCRIPT prints it (powershell.ts), read liberally enough that an operator's
 * wrapper printing `Get-VM | ConvertTo-Json` works too: `State` as VMState's name or its number
 * (Windows PowerShell 5.1 prints enums as numbers), the pipes as `ComPorts` or as Get-VM's own
 * `ComPort1`/`ComPort2`, a lone port without an array around it. Unknown fields are ignored.
 */
const RawComPort = z.object({ Name: z.string(), Path: z.string().nullable().optional() });
/** One port or a list of them; anything else (ConvertTo-Json beyond -Depth prints a type name) is no port. */
const RawComPorts = z.unknown().transform((v) => (Array.isArray(v) ? v : [v]).flatMap((p) => {
  const port = RawComPort.safeParse(p);
  return port.success ? [port.data] : [];
}));
const RawVm = z.object({
  Name: z.string().min(1),
  Id: z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/),
  State: z.union([z.string(), z.number().int()]).transform(stateName),
  Notes: z.string().nullable().optional(),
  Shielded: z.boolean().optional(),
  EncryptStateAndVmMigrationTraffic: z.boolean().optional(),
  ComPorts: RawComPorts.nullable().optional(),
  ComPort1: RawComPorts.optional(),
  ComPort2: RawComPorts.optional(),
});

export type PipeType = 'ro' | 'rw';

/** The serial port pipe whose output is the console log. */
export interface LogPipe {
  type: PipeType;
  /** The pipe's name as the COM port's Path gives it, after `\\.\pipe\`. */
  name: string;
  /** Nova's pipe name is `<instance uuid>_<ro|rw>`: the part before the suffix (the whole name otherwise). */
  stem: string;
  comPort: string;
}

export interface HyperVVm {
  /** Hyper-V's own id for the VM, lower case. */
  vmId: string;
  vmName: string;
  /** The server id: Nova's instance UUID from the notes, else the VM's own id. */
  serverId: string;
  /** Whether the notes carry Nova's instance UUID. */
  nova: boolean;
  name: string;
  projectId?: string;
  userId?: string;
  state: ServerState;
  /** Hyper-V's state name (Running, Off, Saved, ...), for events and logs. */
  hyperVState: string;
  /** The VM's worker process is up, so its pipes exist (or are about to): a collector should run. */
  pipesUp: boolean;
  /** Shielded or with encrypted state: no serial console (Nova's is_secure_vm). */
  secure: boolean;
  logPipe?: LogPipe;
  /** Every COM port connected to a pipe, COM 1 first (logPipe among them): each one is logged. */
  pipes: LogPipe[];
  /**
   * The interactive serial console: the first `rw` pipe (Nova's hw_serial_port_interactive, COM 1
   * by default), and its COM number, which is the console's `port`. It is logPipe too when the VM
   * has no `ro` pipe.
   */
  consolePipe?: LogPipe & { com: number };
  /** The directory under the instances dir holding console.log (Nova's: the instance name). */
  logDir: string;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** A VM name usable as one path component on Windows and Linux alike; anything else logs under the VM id. */
const SAFE_DIR = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** Pipe names that can be put into a path template without escaping it. */
const SAFE_PIPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const PIPE_PATH = /^\\\\\.\\pipe\\(.+)$/i;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i;

/** Hyper-V's VMState names (the *Critical variants share their base state's meaning; entering one is a crash: vm-inventory.ts). */
const STATES: Record<string, { state: ServerState; pipesUp: boolean }> = {
  Running: { state: 'active', pipesUp: true },
  Starting: { state: 'active', pipesUp: true },
  Reset: { state: 'active', pipesUp: true },
  Resuming: { state: 'active', pipesUp: true },
  ForceReboot: { state: 'active', pipesUp: true },
  Paused: { state: 'paused', pipesUp: true },
  Pausing: { state: 'paused', pipesUp: true },
  Saving: { state: 'suspended', pipesUp: true },
  FastSaving: { state: 'suspended', pipesUp: true },
  Saved: { state: 'suspended', pipesUp: false },
  FastSaved: { state: 'suspended', pipesUp: false },
  Hibernated: { state: 'suspended', pipesUp: false },
  Stopping: { state: 'stopped', pipesUp: true },
  ForceShutdown: { state: 'stopped', pipesUp: true },
  Off: { state: 'stopped', pipesUp: false },
};

/**
 * Microsoft.HyperV.PowerShell.VMState's numbers, for output that printed the enum as a number.
 * Only those every release agrees on: after ForceReboot, Windows Server 2016 numbers the
 * *Critical states from 32783 while later releases insert Hibernated and ComponentServicing
 * there first, so a larger number is left 'unknown' rather than guessed.
 */
const STATE_NUMBERS: Record<number, string> = {
  1: 'Other', 2: 'Running', 3: 'Off', 4: 'Stopping', 6: 'Saved', 9: 'Paused', 10: 'Starting', 11: 'Reset',
  32773: 'Saving', 32776: 'Pausing', 32777: 'Resuming', 32779: 'FastSaved', 32780: 'FastSaving',
  32781: 'ForceShutdown', 32782: 'ForceReboot',
};

/** A State as printed (a name, a number, or a number as text) as VMState's name. */
function stateName(state: string | number): string {
  const text = String(state).trim();
  if (!/^\d+$/.test(text)) return text;
  return STATE_NUMBERS[Number(text)] ?? `VMState ${text}`;
}

/**
 * The discovery script's output as VMs, and what was wrong with it. A list that is not a list
 * throws; a single entry vmconsole cannot read is left out and named in `problems` (its
 * neighbours are still served). Nothing in an entry is ever run or used as a path unchecked:
 * names are data.
 */
export function mapVms(raw: unknown): { vms: HyperVVm[]; problems: string[] } {
  // null: `ConvertTo-Json -InputObject $null`, and how runPowerShellJson gives empty output (a
  // pipeline of no VMs prints nothing).
  const list = raw === null ? [] : Array.isArray(raw) ? raw : typeof raw === 'object' ? [raw] : undefined;
  if (!list) throw new Error(`the VM list is not a JSON array (got ${typeof raw})`);
  const problems: string[] = [];
  const parsed: z.infer<typeof RawVm>[] = [];
  for (const [index, entry] of list.entries()) {
    const result = RawVm.safeParse(entry);
    if (result.success) parsed.push(result.data);
    else problems.push(`VM entry ${index} left out: ${z.prettifyError(result.error).replace(/\n/g, ' ')}`);
  }
  // Sorted by VM id so that which of two look-alikes wins does not depend on Hyper-V's order.
  parsed.sort((a, b) => (a.Id.toLowerCase() < b.Id.toLowerCase() ? -1 : 1));
  const vms: HyperVVm[] = [];
  const ids = new Set<string>();
  const servers = new Set<string>();
  const dirs = new Set<string>();
  // A VM id is the log directory its own VM may fall back to: no other VM's name may take it.
  const allIds = new Set(parsed.map((entry) => entry.Id.toLowerCase()));
  for (const entry of parsed) {
    const vm = describe(entry, problems);
    if (ids.has(vm.vmId)) {
      problems.push(`VM ${vm.vmId} printed more than once; the first entry kept`);
      continue;
    }
    if (servers.has(vm.serverId)) {
      problems.push(`VM ${vm.vmId} left out: its notes name instance ${vm.serverId}, which another VM already has (a copied VM?)`);
      continue;
    }
    // Windows file names ignore case: two VMs must never share a log directory.
    const dir = vm.logDir.toLowerCase();
    if (dirs.has(dir) || (dir !== vm.vmId && allIds.has(dir))) vm.logDir = vm.vmId;
    ids.add(vm.vmId);
    servers.add(vm.serverId);
    dirs.add(vm.logDir.toLowerCase());
    vms.push(vm);
  }
  return { vms, problems };
}

function describe(entry: z.infer<typeof RawVm>, problems: string[]): HyperVVm {
  const vmId = entry.Id.toLowerCase();
  const notes = parseNotes(entry.Notes ?? '');
  const known = STATES[entry.State.replace(/Critical$/, '')];
  const vm: HyperVVm = {
    vmId,
    vmName: entry.Name,
    serverId: notes.instanceUuid ?? vmId,
    nova: notes.instanceUuid !== undefined,
    name: (notes.name ?? entry.Name).slice(0, 255),
    ...(notes.projectId !== undefined && { projectId: notes.projectId }),
    ...(notes.userId !== undefined && { userId: notes.userId }),
    state: known?.state ?? 'unknown',
    hyperVState: entry.State,
    pipesUp: known?.pipesUp ?? false,
    secure: entry.Shielded === true || entry.EncryptStateAndVmMigrationTraffic === true,
    logDir: SAFE_DIR.test(entry.Name) && !WINDOWS_RESERVED.test(entry.Name) && !entry.Name.endsWith('.') ? entry.Name : vmId,
    pipes: [],
  };
  const pipes = comPipes(entry.ComPorts ?? [...(entry.ComPort1 ?? []), ...(entry.ComPort2 ?? [])], vmId, problems);
  const logPipe = pipes.find((p) => p.type === 'ro') ?? pipes[0];
  if (logPipe) vm.logPipe = logPipe;
  vm.pipes = pipes;
  const consolePipe = pipes.find((p) => p.type === 'rw');
  const com = Number(/^COM\s*([0-9])$/i.exec(consolePipe?.comPort ?? '')?.[1]);
  if (consolePipe && com > 0) vm.consolePipe = { ...consolePipe, com };
  return vm;
}

/**
 * Nova writes the instance UUID as the VM's only note (compute-hyperv's create_vm, os-win's
 * get_instance_uuid reads the first one). Lines after it of the form `project_id=...`,
 * `user_id=...` or `name=...` are read too: Nova does not write them, but a deployment that tags
 * its VMs that way gets its tenants' servers shown to their projects.
 */
function parseNotes(notes: string): { instanceUuid?: string; projectId?: string; userId?: string; name?: string } {
  const lines = notes.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const first = lines[0];
  if (first === undefined || !UUID.test(first)) return {};
  const out: { instanceUuid?: string; projectId?: string; userId?: string; name?: string } = { instanceUuid: first.toLowerCase() };
  for (const line of lines.slice(1)) {
    const match = /^(project_id|user_id|name)=(.{1,255})$/.exec(line);
    if (!match) continue;
    if (match[1] === 'project_id') out.projectId = match[2]!;
    else if (match[1] === 'user_id') out.userId = match[2]!;
    else out.name = match[2]!;
  }
  return out;
}

/**
 * The COM ports connected to pipes, COM 1 first. Nova's rule (compute-hyperv's serial console
 * handler): the `ro` pipe is for logging, the `rw` one for the interactive console, and is logged
 * only when there is no `ro` one. A pipe name without Nova's suffix counts as `rw`, as there.
 */
function comPipes(ports: readonly z.infer<typeof RawComPort>[], vmId: string, problems: string[]): LogPipe[] {
  const pipes: LogPipe[] = [];
  for (const port of [...ports].sort((a, b) => (a.Name < b.Name ? -1 : 1))) {
    const match = PIPE_PATH.exec(port.Path ?? '');
    if (!match) continue;
    const name = match[1]!;
    if (!SAFE_PIPE.test(name)) {
      problems.push(`VM ${vmId}: ${port.Name}'s pipe name is not one vmconsole connects to (letters, digits, '.', '_' and '-' only); not logged`);
      continue;
    }
    const suffix = /^(.+)_(ro|rw)$/i.exec(name);
    pipes.push({ type: suffix ? (suffix[2]!.toLowerCase() as PipeType) : 'rw', name, stem: suffix ? suffix[1]! : name, comPort: port.Name });
  }
  return pipes;
}

/**
 * Where to connect for a pipe: VMCONSOLE_HYPERV_PIPE_PATH with `{uuid}` (Nova's instance UUID,
 * the name's stem), `{type}` (ro or rw) and `{name}` (the whole pipe name) filled in.
 */
export function pipePath(template: string, pipe: LogPipe): string {
  return template.replaceAll('{uuid}', pipe.stem).replaceAll('{type}', pipe.type).replaceAll('{name}', pipe.name);
}
