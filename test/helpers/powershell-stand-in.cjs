'use strict';
// A stand-in for powershell.exe on a Hyper-V host, run as a real subprocess by the driver under
// test (through the small executable the test Hyper-V host writes, which calls this with its
// state file). It answers only the driver's fixed discovery script and prints the VM list the
// test put in the state file, in the shape that script prints (see
// test/fixtures/hyperv/README.md for where the shape comes from). Plain CommonJS: whatever Node
// runs it (the agent's, or /usr/bin/node) parses it.
const { appendFileSync, readFileSync } = require('node:fs');

/** The arguments the driver must pass: no profile, no prompt, the script base64 UTF-16LE as PowerShell wants it. */
const FIXED = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand'];

module.exports = function runStandIn(statePath) {
  const args = process.argv.slice(2);
  appendFileSync(`${statePath}.calls`, `${JSON.stringify(args)}\n`);
  const fixedOk = args.length === FIXED.length + 1 && FIXED.every((a, i) => args[i] === a);
  const script = fixedOk ? Buffer.from(args[FIXED.length], 'base64').toString('utf16le') : '';
  if (!/Get-VM\b/.test(script) || !/Get-VMComPort\b/.test(script) || !/ConvertTo-Json\b/.test(script)) {
    process.stderr.write(`stand-in powershell: unexpected arguments ${JSON.stringify(args)}\n`);
    process.exit(64);
  }
  const state = JSON.parse(readFileSync(statePath, 'utf8'));
  // Exit only once the pipe has taken everything: process.exit() right after a write cuts a long answer short.
  const say = (stream, text, code) => stream.write(text, () => process.exit(code));
  const answer = () => {
    switch (state.mode) {
      case 'fail':
        // What Get-VM prints to a user outside the Hyper-V Administrators group.
        return say(process.stderr, 'Get-VM : You do not have the required permission to complete this task. Contact the administrator of the authorization policy for the computer \'HV-1\'.\n', 1);
      case 'bytes':
        // Exactly these bytes, as another PowerShell (or an operator's wrapper) would print them.
        return say(process.stdout, Buffer.from(state.bytes, 'base64'), 0);
      case 'garbage-varying':
        // Garbage that differs at every call (a timestamp, a process id): each reason is new.
        return say(process.stdout, `WARNING: ${process.pid} ${Date.now()}\n{"Name": "half`, 0);
      case 'garbage':
        return say(process.stdout, 'WARNING: The names of some imported commands from the module \'Hyper-V\' include unapproved verbs\n{"Name": "half', 0);
      default:
        return say(process.stdout, JSON.stringify(state.vms), 0);
    }
  };
  if (state.mode === 'slow') setTimeout(answer, state.delayMs ?? 60_000);
  else answer();
};
