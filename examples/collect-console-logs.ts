/**
 * An automation client of vmconsole's request queue (README, "Queue-driven automation"): asks for
 * the console output of some servers, a project or a host, waits for the whole batch on a reply
 * queue of its own, prints a summary table and exits non-zero if any server failed.
 *
 *   env $(cat .vmconsole/demo/stack.env) npm run --silent collect-console-logs -- --project demo --length 5
 *
 * Environment: VMCONSOLE_REQUEST_QUEUE_URL (the deployment's request queue), and where its reply
 * queue may live: --reply-queue-prefix, else the name part of the first of
 * VMCONSOLE_CLIENT_REPLY_URL_PREFIXES (stack.env has both); AWS credentials and region as usual
 * (VMCONSOLE_SQS_ENDPOINT for a local emulator).
 *
 * Exit codes: 0 every server answered ok, 1 some failed, 2 the batch did not complete in time,
 * 64 bad usage.
 */
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, DeleteMessageBatchCommand, DeleteQueueCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { Command, InvalidArgumentError } from 'commander';
import { BatchCollector } from '../lib/automation/batch-collector.ts';
import { AUTOMATION_VERSION, type AutomationReply } from '../lib/contracts/automation.ts';
import { decodeAutomationReply } from '../lib/transport/envelope.ts';
import { createSqsClient } from '../lib/transport/sqs-client.ts';

const program = new Command('collect-console-logs')
  .description('Collect the console output of many servers through vmconsole\'s request queue and summarise it.')
  .option('--servers <ids>', 'comma-separated server ids (1-1000)')
  .option('--project <id>', 'every server of a project')
  .option('--host <name>', 'every server of a compute host (operators only)')
  .option('--length <n>', 'lines, as Nova\'s length (default: everything)')
  .option('--token <token>', 'bearer token scoping the request to its project (default: none, acting as operator)')
  .option('--reply-queue-prefix <name>', 'name prefix of the reply queue this client creates')
  .option('--timeout <seconds>', 'how long to wait for the whole batch', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected whole seconds');
    return n;
  }, 120)
  .option('--json', 'print every reply as a JSON line instead of the table')
  .parse();
const opts = program.opts<{ servers?: string; project?: string; host?: string; length?: string; token?: string; replyQueuePrefix?: string; timeout: number; json?: boolean }>();

const targets = [opts.servers && { servers: opts.servers.split(',').map((s) => s.trim()).filter(Boolean) }, opts.project && { project: opts.project }, opts.host && { host: opts.host }].filter(Boolean);
if (targets.length !== 1) usage('give exactly one of --servers, --project, --host');
const requestQueueUrl = process.env.VMCONSOLE_REQUEST_QUEUE_URL;
if (!requestQueueUrl) usage('VMCONSOLE_REQUEST_QUEUE_URL is not set (npm start writes it to .vmconsole/demo/stack.env)');
const firstPrefix = process.env.VMCONSOLE_CLIENT_REPLY_URL_PREFIXES?.split(',')[0]?.trim();
const replyQueuePrefix = opts.replyQueuePrefix ?? firstPrefix?.slice(firstPrefix.lastIndexOf('/') + 1);
if (!replyQueuePrefix) usage('give --reply-queue-prefix, or set VMCONSOLE_CLIENT_REPLY_URL_PREFIXES');

const sqs = createSqsClient();
const requestId = `collect-${randomUUID()}`;
// One reply queue per run, under a fresh name (SQS refuses a deleted name for 60 s).
const { QueueUrl: replyTo } = await sqs.send(new CreateQueueCommand({ QueueName: `${replyQueuePrefix}${randomUUID()}`, Attributes: { MessageRetentionPeriod: '3600' } }));
let exitCode = 2;
try {
  const length = opts.length === undefined ? null : /^-?\d+$/.test(opts.length) ? Number(opts.length) : opts.length;
  await sqs.send(new SendMessageCommand({
    QueueUrl: requestQueueUrl,
    MessageBody: JSON.stringify({ v: AUTOMATION_VERSION, requestId, replyTo, kind: 'console.output', length, ...targets[0], ...(opts.token && { token: opts.token }) }),
  }));
  const batch = new BatchCollector(requestId);
  const until = Date.now() + opts.timeout * 1000;
  while (!batch.complete && Date.now() < until) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: replyTo, MaxNumberOfMessages: 10, WaitTimeSeconds: Math.max(1, Math.min(20, Math.ceil((until - Date.now()) / 1000))) }));
    for (const message of Messages) {
      const reply = decodeAutomationReply(message);
      // Keep the first reply per seq: SQS may deliver twice, and a host that died mid-batch may
      // have its servers answered again (HostTimeout) after the agent's own answer.
      if (reply && batch.add(reply) && opts.json) console.log(JSON.stringify(reply));
    }
    if (Messages.length > 0) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: replyTo, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
  }
  if (!opts.json) printTable(batch.replies);
  const failed = batch.replies.filter((r) => !r.ok).length;
  if (!batch.complete) {
    console.error(`incomplete: ${batch.replies.length} of ${batch.total ?? '?'} servers answered within ${opts.timeout} s (missing seqs ${batch.missing().slice(0, 20).join(', ')})`);
    exitCode = 2;
  } else if (batch.total === 0) {
    const [refusal] = batch.replies;
    console.error(`${requestId}: refused: ${refusal && !refusal.ok ? `${refusal.error.code}: ${refusal.error.message}` : 'no servers'}`);
    exitCode = 1;
  } else {
    console.error(`${requestId}: ${batch.total} servers, ${batch.total! - failed} ok, ${failed} failed${batch.duplicates > 0 ? `, ${batch.duplicates} duplicate replies ignored` : ''}`);
    exitCode = failed > 0 ? 1 : 0;
  }
} finally {
  await sqs.send(new DeleteQueueCommand({ QueueUrl: replyTo })).catch(() => undefined);
  sqs.destroy();
}
process.exit(exitCode);

function printTable(replies: AutomationReply[]): void {
  const clip = (text: string, n: number) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
  console.table(replies.map((r) => {
    if (!r.ok) return { server: r.serverId ?? '(request)', lines: '', 'last line': '', error: clip(`${r.error.code}: ${r.error.message}`, 80) };
    const lines = r.output === '' ? [] : r.output.replace(/\n$/, '').split('\n');
    return { server: r.serverId, lines: lines.length, 'last line': clip(lines.at(-1) ?? '', 60), error: '' };
  }));
}

function usage(problem: string): never {
  console.error(`collect-console-logs: ${problem}\n`);
  program.outputHelp({ error: true });
  process.exit(64);
}
