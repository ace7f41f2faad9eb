import type { ServerRecord } from '../contracts/records.ts';

/** How the agent names a server to its driver: the id and the hypervisor's own name for it. */
export interface ServerHandle {
  id: string;
  instanceName: string;
}

/** A server as a driver sees it; the agent adds host, hypervisor and timestamps. */
export type DiscoveredServer = Pick<ServerRecord, 'id' | 'name' | 'projectId' | 'userId' | 'state' | 'instanceName'>;

/**
 * One hypervisor's capabilities, Nova's virt-driver split: drivers find and return raw bytes
 * (or, later, connection info); lib/console shapes them. Drivers know nothing of SQS or HTTP.
 * Errors are VmconsoleError: ServerNotFound (not on this host), NoConsole (no console device),
 * NotImplemented (hypervisor cannot do it).
 */
export interface HypervisorDriver {
  readonly kind: ServerRecord['hypervisor'];
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
   * Push notification of inventory changes (domain started, stopped, undefined). Optional: drivers
   * without events are polled at every heartbeat. Stops when `signal` aborts.
   */
  watch?(onChange: () => void, signal: AbortSignal): void;
}
