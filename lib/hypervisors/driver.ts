import type { Duplex } from 'node:stream';
import type { RotatedLog } from '../console/rotated-log.ts';
import type { ServerRecord } from '../contracts/records.ts';

/** One serial port's log set: `name` is the device as the guest knows it (ttyS1, COM2) when the driver knows. */
export interface ConsoleLog {
  port: number;
  name: string | null;
  log: RotatedLog;
}

/** How the agent names a server to its driver: the id and the hypervisor's own name for it. */
export interface ServerHandle {
  id: string;
  instanceName: string;
}

/** A server as a driver sees it; the agent adds host, hypervisor and timestamps. */
export type DiscoveredServer = Pick<ServerRecord, 'id' | 'name' | 'projectId' | 'userId' | 'state' | 'instanceName'>;

/**
 * What happened to one server, in hypervisor-neutral words. `crashed` covers a guest that panicked
 * and a guest or emulator that died without being asked (one panic may report twice: panicked,
 * then stopped); `paused` covers a guest suspended to memory too.
 */
export type ServerEventType =
  | 'started'
  | 'stopped'
  | 'crashed'
  | 'paused'
  | 'resumed'
  | 'migrated-in'
  | 'migrated-out'
  | 'defined'
  | 'undefined';

export type DriverEvent =
  | {
      type: ServerEventType;
      server: ServerHandle;
      /** The hypervisor's own words for it (libvirt: "Stopped Crashed"), for logs and diagnostics. */
      reason: string;
      /** When the driver saw it, ms since the epoch. */
      at: number;
    }
  | {
      /** Events may have been missed (the event stream restarted, or named a server the driver did not know): list again. */
      type: 'resync';
      reason: string;
      at: number;
    };

/** A guest's screen as the hypervisor gave it (libvirt: PPM from QEMU's screendump, or PNG). */
export interface Screenshot {
  bytes: Buffer;
  /** The MIME type the hypervisor named, e.g. image/x-portable-pixmap. */
  contentType: string;
}

/** The remote consoles Nova names (the wire contract's RemoteConsoleProtocol, which the agent passes on). */
export type RemoteConsoleProtocol = 'vnc' | 'spice' | 'serial';

/**
 * Where a running server's remote console listens now, as the hypervisor says (libvirt: the live
 * domain XML). `address` is the listen address the hypervisor names, undefined when it names none;
 * shared code (lib/console/console-address.ts) decides what is connected to, and only ever this
 * host. Serial: `port` is the TCP port of the serial chardev (libvirt), or the COM port's number
 * (Hyper-V, whose serial console is a named pipe reached through `stream`).
 */
export interface ConsoleEndpoint {
  address: string | undefined;
  port: number;
  tlsPort: number | null;
  /**
   * Serial only: the console is no TCP port but a stream the driver opens itself (Hyper-V: the
   * VM's COM `rw` pipe, or a share of the log collector's connection to it when that collector
   * holds the pipe, which serves one client). `id` names what is opened (the pipe path, for the
   * agent's log and to tell whether a reconnect still reaches the same console); `open` is
   * called at every (re)connect and emits 'connect' once usable, 'error' and 'close' when not.
   */
  stream?: { id: string; open(): Duplex };
}

/**
 * One hypervisor's capabilities, Nova's virt-driver split: drivers find and return raw bytes
 * (or, later, connection info); lib/console shapes them. Drivers know nothing of SQS or HTTP.
 * Errors are VmconsoleError: ServerNotFound (not on this host), NoConsole (no console device),
 * NotImplemented (hypervisor cannot do it).
 */
export interface HypervisorDriver {
  readonly kind: ServerRecord['hypervisor'];
  /**
   * Background work the driver owns (collectors, followers), started once before any other call
   * and stopped once at shutdown. Optional: drivers without background work have neither.
   */
  start?(): Promise<void>;
  stop?(): Promise<void>;
  /** Every server on this host now, running or not. */
  listServers(): Promise<DiscoveredServer[]>;
  /**
   * The last `window` bytes of the server's console log, across rotated files, oldest byte first.
   * A console whose log does not exist yet gives an empty buffer. Never reads outside the
   * agent's configured log roots. `signal` aborts when the request's deadline passes: every
   * subprocess and wait the driver starts for the read must end with it.
   */
  readConsoleLog(server: ServerHandle, window: number, signal?: AbortSignal): Promise<Buffer>;
  /**
   * Where the server's console log set is and how it is named, without reading it: what a log
   * follower watches. Undefined when the server has no console log (no console device, a
   * shielded VM); ServerNotFound as for readConsoleLog. Optional: servers of drivers without it
   * are not followed.
   */
  consoleLogSet?(server: ServerHandle, signal?: AbortSignal): Promise<RotatedLog | undefined>;
  /**
   * Every console log set of the server, by serial port, lowest port first: port 0 is the one
   * consoleLogSet names (Nova's console), others are the further serial ports that have a log.
   * Errors as for consoleLogSet. Optional: a driver without it has port 0 only (consoleLogSet).
   */
  consoleLogs?(server: ServerHandle, signal?: AbortSignal): Promise<ConsoleLog[]>;
  /**
   * Every server event as it happens, until `signal` aborts; any number of subscribers. Optional:
   * drivers without events are polled at every heartbeat. Events come in bursts (a start reports
   * several): a subscriber that only needs "something changed" coalesces them (coalesce-events.ts).
   * `onEvent` runs on the driver's own event path: it must return quickly and never throw.
   */
  watch?(onEvent: (event: DriverEvent) => void, signal: AbortSignal): void;
  /**
   * The guest's screen now, as the hypervisor encodes it (shared code converts and stores it).
   * Undefined when the guest has no graphics device: not an error. Optional: drivers without
   * screens (files, Hyper-V so far) have none. `signal` as for readConsoleLog.
   */
  screenshot?(server: ServerHandle, signal?: AbortSignal): Promise<Screenshot | undefined>;
  /**
   * Where the server's remote console of `protocol` listens now (Nova's get_vnc_console,
   * get_spice_console, get_serial_console), read fresh from the hypervisor each time: a port is
   * the domain's only while it runs. Undefined when the server has no such console now (none
   * configured, or not running: an autoport not yet filled in). ServerNotFound as for
   * readConsoleLog; NoConsole thrown for a protocol the hypervisor has none of (Hyper-V: VNC,
   * SPICE). Optional: drivers without it answer NotImplemented. Hyper-V serves `serial` only,
   * through `stream`; the log keeps being written while viewers use it.
   */
  consoleEndpoint?(server: ServerHandle, protocol: RemoteConsoleProtocol, signal?: AbortSignal): Promise<ConsoleEndpoint | undefined>;
}
