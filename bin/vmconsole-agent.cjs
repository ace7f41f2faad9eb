#!/usr/bin/env -S node --max-semi-space-size=1 --max-old-space-size=64
// The installed entry point. Plain CommonJS in syntax every Node still parses, so an unsupported
// Node gets one clear line (and exit code 78, EXIT_CONFIG in lib/agent/exit-codes.ts) before the
// bundle loads. The shebang's node flags are the agent's memory settings: lib/agent/agent-command.ts
// reads them from here, so `npm run agent`, the local stack and this bin run the agent alike. They
// must be flags every Node parses, or an old Node dies with "bad option" before this line runs.
'use strict';
var MIN_MAJOR = 20;
var major = Number(process.versions.node.split('.')[0]);
if (!(major >= MIN_MAJOR)) {
  process.stderr.write('vmconsole-agent: Node.js ' + MIN_MAJOR + ' or newer is required (this is ' + process.version + ' at ' + process.execPath + ')\n');
  process.exit(78);
}
// Maglev (the mid-tier compiler of Node 22+) costs memory the agent does not need; Node 18 does
// not know the flag, so it is set here, after the version check, before any agent code compiles.
require('v8').setFlagsFromString('--no-maglev');
var bundle = require('path').join(__dirname, '../dist/vmconsole-agent.mjs');
if (!require('fs').existsSync(bundle)) {
  process.stderr.write('vmconsole-agent: ' + bundle + ' is missing; build it with `npm run build`\n');
  process.exit(78);
}
import(require('url').pathToFileURL(bundle).href);
