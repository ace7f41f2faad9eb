#!/usr/bin/env node
// The installed `vmconsole` command (package.json `bin`). Plain CommonJS in syntax every Node still
// parses, so an unsupported Node gets one clear line and exit code 78 (EXIT_CONFIG in lib/cli/io.ts)
// before the bundle loads, as bin/vmconsole-agent.cjs does for the agent.
'use strict';
var MIN_MAJOR = 20;
var major = Number(process.versions.node.split('.')[0]);
if (!(major >= MIN_MAJOR)) {
  process.stderr.write('vmconsole: Node.js ' + MIN_MAJOR + ' or newer is required (this is ' + process.version + ' at ' + process.execPath + ')\n');
  process.exit(78);
}
var bundle = require('path').join(__dirname, '../dist/vmconsole.mjs');
if (!require('fs').existsSync(bundle)) {
  process.stderr.write('vmconsole: ' + bundle + ' is missing; build it with `npm run build`\n');
  process.exit(78);
}
import(require('url').pathToFileURL(bundle).href);
