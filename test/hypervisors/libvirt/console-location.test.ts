import { describe, expect, it } from 'vitest';
import { consoleLocation, type ConsoleDevice } from '../../../lib/hypervisors/libvirt/console-location.ts';

const dev = (type: string | undefined, sourcePath?: string, logFile?: string): ConsoleDevice => ({ type, sourcePath, logFile });

describe("consoleLocation: Nova's order over ./devices/console", () => {
  it('file console -> its source path', () => {
    expect(consoleLocation([dev('file', '/l/f.log')])).toEqual({ kind: 'file', path: '/l/f.log' });
  });

  it('a file console without a path is skipped', () => {
    expect(consoleLocation([dev('file'), dev('tcp', undefined, '/l/t.log')])).toEqual({ kind: 'file', path: '/l/t.log' });
  });

  it('tcp console -> its log file; a tcp console without a log has no readable output', () => {
    expect(consoleLocation([dev('tcp', undefined, '/l/t.log')])).toEqual({ kind: 'file', path: '/l/t.log' });
    expect(consoleLocation([dev('tcp')])).toEqual({ kind: 'none' });
  });

  it('live pty with a virtlogd log -> the log, not the pty', () => {
    expect(consoleLocation([dev('pty', '/dev/pts/3', '/l/p.log')])).toEqual({ kind: 'file', path: '/l/p.log' });
  });

  it('inactive pty with a log (no pty path yet) -> the log', () => {
    expect(consoleLocation([dev('pty', undefined, '/l/p.log')])).toEqual({ kind: 'file', path: '/l/p.log' });
  });

  it('live pty without a log -> drain the pty', () => {
    expect(consoleLocation([dev('pty', '/dev/pts/3')])).toEqual({ kind: 'pty', ptyPath: '/dev/pts/3' });
  });

  it('inactive pty without a log -> the drained file only', () => {
    expect(consoleLocation([dev('pty')])).toEqual({ kind: 'pty', ptyPath: undefined });
  });

  it('file beats tcp beats pty, whatever the document order', () => {
    const pty = dev('pty', '/dev/pts/1', '/l/p.log');
    const tcp = dev('tcp', undefined, '/l/t.log');
    const file = dev('file', '/l/f.log');
    expect(consoleLocation([pty, tcp, file])).toEqual({ kind: 'file', path: '/l/f.log' });
    expect(consoleLocation([pty, tcp])).toEqual({ kind: 'file', path: '/l/t.log' });
  });

  it('no console, or only kinds Nova does not read (vc, spicevmc, unix) -> none', () => {
    expect(consoleLocation([])).toEqual({ kind: 'none' });
    expect(consoleLocation([dev('vc'), dev('unix', '/run/x.sock'), dev(undefined)])).toEqual({ kind: 'none' });
  });
});
