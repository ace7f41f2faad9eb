import { rename } from 'node:fs/promises';

/**
 * The naming of a rotated log set, shared by the readers (readLogWindow) and the writers that
 * rotate (the pty drainer today, the Hyper-V serial writer next), so both sides always agree on
 * which name is the newest backup. `files` lists the live file first, then the backups newest
 * first: the order readLogWindow wants. `rotate` moves the live file out of the way the way the
 * scheme's own writer does; the caller then creates a new live file.
 */
export interface RotatedLog {
  files: readonly string[];
  rotate(): Promise<void>;
}

/**
 * virtlogd's naming: `console.log` is live, `.0` the newest backup, `.1` older, and so on up to
 * `maxBackups`. A rotation shifts every backup one name older (the oldest falls off) and renames
 * the live file to `.0`, one rename at a time, oldest first, as virtlogd does.
 */
export function virtlogdRotation(base: string, maxBackups = 32): RotatedLog {
  const backups = Array.from({ length: maxBackups }, (_, i) => `${base}.${i}`);
  return {
    files: [base, ...backups],
    async rotate() {
      for (let i = maxBackups - 1; i > 0; i--) await renameIfPresent(backups[i - 1]!, backups[i]!);
      if (maxBackups > 0) await renameIfPresent(base, backups[0]!);
    },
  };
}

/** os-win keeps a single backup, `console.log.1`, replaced at every rotation. */
export function hypervRotation(base: string): RotatedLog {
  const backup = `${base}.1`;
  return {
    files: [base, backup],
    rotate: () => renameIfPresent(base, backup),
  };
}

async function renameIfPresent(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
