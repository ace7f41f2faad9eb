import { readFile, writeFile } from 'node:fs/promises';

/** The variables another process needs to join a running stack, and nothing host-specific. */
export const JOIN_VARIABLES = [
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'VMCONSOLE_SQS_ENDPOINT',
  'VMCONSOLE_DYNAMODB_ENDPOINT',
  'VMCONSOLE_TABLE',
  'VMCONSOLE_HOST_QUEUE_PREFIX',
  'VMCONSOLE_REPLY_QUEUE_PREFIX',
  'VMCONSOLE_REPLY_QUEUE_URL_PREFIX',
  // Queue-driven automation: agents answer clients under this prefix; clients send requests here.
  'VMCONSOLE_CLIENT_REPLY_URL_PREFIXES',
  'VMCONSOLE_REQUEST_QUEUE_URL',
  // Crash diagnostics: agents send crash events here; subscribers take diagnoses from the topic.
  'VMCONSOLE_EVENTS_QUEUE_URL',
  'VMCONSOLE_DIAGNOSES_TOPIC_ARN',
  // Remote consoles: agents dial the console relay's tunnels only under these prefixes.
  'VMCONSOLE_RELAY_URL_PREFIXES',
] as const;

/**
 * One `NAME=value` per line, so `env $(cat stack.env) VMCONSOLE_HOST=lab-1 npm run agent` works:
 * values are URLs and names, never with spaces (refused here, since the shell would split them).
 */
export async function writeStackEnv(file: string, env: Record<string, string>): Promise<void> {
  const lines = JOIN_VARIABLES.map((name) => {
    const value = env[name];
    if (value === undefined || value === '' || /[\s'"$`\\]/.test(value)) throw new Error(`cannot write ${name}=${JSON.stringify(value)} to ${file}`);
    return `${name}=${value}`;
  });
  await writeFile(file, `${lines.join('\n')}\n`);
}

export async function readStackEnv(file: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}
