/**
 * Open console sessions per server and per project, for the relay's caps (a console is a scarce
 * thing: QEMU serves one serial client, a VNC desktop a few viewers). acquire() either takes a
 * slot in both counts and returns its release, or takes nothing.
 */
export class SessionCounts {
  readonly #perServer = new Map<string, number>();
  readonly #perProject = new Map<string, number>();
  readonly #maxPerServer: number;
  readonly #maxPerProject: number;

  constructor(limits: { perServer: number; perProject: number }) {
    this.#maxPerServer = limits.perServer;
    this.#maxPerProject = limits.perProject;
  }

  acquire(serverId: string, projectId: string): { release(): void } | 'server limit' | 'project limit' {
    if ((this.#perServer.get(serverId) ?? 0) >= this.#maxPerServer) return 'server limit';
    if ((this.#perProject.get(projectId) ?? 0) >= this.#maxPerProject) return 'project limit';
    bump(this.#perServer, serverId, 1);
    bump(this.#perProject, projectId, 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        bump(this.#perServer, serverId, -1);
        bump(this.#perProject, projectId, -1);
      },
    };
  }

  get total(): number {
    let n = 0;
    for (const v of this.#perServer.values()) n += v;
    return n;
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
}
