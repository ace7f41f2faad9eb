import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConsoleType } from '../remote-consoles/console-tokens.ts';
import type { StaticMount } from './static-files.ts';

const require = createRequire(import.meta.url);
/** Where a package is installed, found as Node would (these packages export no package.json to resolve). */
function packageDir(name: string): string {
  for (const dir of require.resolve.paths(name) ?? []) {
    const candidate = join(dir, name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
  }
  throw new Error(`the console relay needs the npm package ${name}, which is not installed`);
}
const pagesDir = join(dirname(fileURLToPath(import.meta.url)), 'pages');

/**
 * What each listener serves besides WebSockets, at the paths Nova's URLs name: noVNC's page
 * (ours, on @novnc/novnc's core), SPICE's own spice_auto.html, and a serial terminal page on
 * xterm.js (Nova's serial proxy serves none; the API's ws:// URL works without it).
 */
export function consolePages(): Record<ConsoleType, StaticMount[]> {
  const novnc = packageDir('@novnc/novnc');
  const spice = packageDir('@spice-project/spice-html5');
  const xterm = packageDir('@xterm/xterm');
  return {
    novnc: [
      { prefix: '/vnc_lite.html', path: join(pagesDir, 'vnc_lite.html') },
      { prefix: '/novnc/core/', path: join(novnc, 'core') },
      { prefix: '/novnc/vendor/', path: join(novnc, 'vendor') },
      { prefix: '/novnc/LICENSE.txt', path: join(novnc, 'LICENSE.txt') },
    ],
    'spice-html5': [
      { prefix: '/spice_auto.html', path: join(spice, 'spice_auto.html') },
      { prefix: '/spice.css', path: join(spice, 'spice.css') },
      { prefix: '/src/', path: join(spice, 'src') },
      { prefix: '/COPYING.LESSER', path: join(spice, 'COPYING.LESSER') },
    ],
    serial: [
      { prefix: '/serial.html', path: join(pagesDir, 'serial.html') },
      { prefix: '/xterm/lib/', path: join(xterm, 'lib') },
      { prefix: '/xterm/css/', path: join(xterm, 'css') },
      { prefix: '/xterm/LICENSE', path: join(xterm, 'LICENSE') },
    ],
  };
}
