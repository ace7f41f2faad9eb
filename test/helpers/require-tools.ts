import { execFileSync } from 'node:child_process';

/**
 * The driver tests run real `virsh` on libvirt's test driver (no daemon) and real ptys through
 * python3, the CLI tests a real terminal through util-linux `script`. Without them a suite is skipped with a loud message; in CI that would hide a missing
 * install step, so it fails instead (the system suites follow the same rule).
 */
export function requireToolsOrSkip(tools: readonly ('virsh' | 'python3' | 'script')[]): boolean {
  const missing = tools.filter((tool) => {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore', timeout: 10_000 });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return true;
  // `script` (a real terminal for CLI tests) is util-linux's, in Debian's essential bsdutils.
  const packages = missing.map((tool) => (tool === 'virsh' ? 'libvirt-clients' : tool === 'script' ? 'bsdutils' : tool)).join(' ');
  return skipOutsideCi(`LIBVIRT DRIVER TESTS SKIPPED: ${missing.join(' and ')} not found. `
    + `Run: apt-get install -y --no-install-recommends ${packages}`);
}

/** The one rule for a missing tool: a loud skip on a developer's machine, a failure in CI. Returns false. */
export function skipOutsideCi(message: string): false {
  if (process.env.CI === 'true') throw new Error(message.replace('SKIPPED', 'CANNOT RUN IN CI'));
  console.warn(`\n*** ${message} ***\n`);
  return false;
}
