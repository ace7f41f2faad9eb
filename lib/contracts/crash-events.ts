import { z } from 'zod';
import { HostName, ServerId } from './records.ts';

/**
 * The events queue's message formats (README, "Events queue"). Two are accepted:
 *
 * 1. vmconsole's own, version 1, sent by the agent (a driver reported `crashed`, or later its log
 *    follower saw a crash signature) or by any system:
 *      {"v":1, "serverId":"<uuid>", "reason":"...", "source":"..."}
 *    optional: `host` (the sender's host name; a hint for logs, never used to route), `boot` and
 *    `signature` (the sender's own words for which boot and which crash; recorded, not trusted for
 *    deduplication: the analyser's own key is), `at` (when it happened: epoch ms or ISO 8601).
 *    Unknown fields are ignored, so senders may add fields; `v` changes if one has to change.
 *
 * 2. A CloudWatch alarm state-change notification, delivered by SNS to the queue: the SNS envelope
 *    (`{"Type":"Notification", "Message":"<alarm JSON>", ...}`) or raw message delivery (the alarm
 *    JSON itself). The server is the value of a metric dimension named ServerId, server_id,
 *    InstanceId, instance_id or instance_uuid (case does not matter), which must be a server id;
 *    only transitions to ALARM are events (OK and INSUFFICIENT_DATA are not crashes).
 *
 * An event only says "look at this server": who owns the server comes from the directory, never
 * from the event, and an event for a server the directory does not know is dropped.
 */
export interface CrashEvent {
  serverId: string;
  reason: string;
  source: string;
  /** Epoch ms: the sender's `at`, else when the queue received it. */
  at: number;
  host?: string;
  boot?: string;
  signature?: string;
}

export type ParsedEvent =
  | { kind: 'event'; event: CrashEvent }
  /** Well-formed but not a reason to diagnose (an alarm back to OK, an alarm naming no server of ours). */
  | { kind: 'ignored'; why: string };

/** A message that is none of the accepted formats: no retry makes it one (it ends in the DLQ). */
export class MalformedEvent extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedEvent';
  }
}

/** Bounded: events are stored with the diagnosis and shown to the server's owner. */
const Text = (max: number) => z.string().trim().min(1).max(max);
const At = z.union([z.number().int().min(0).max(8.64e15), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]);

export const CrashEventV1 = z.object({
  v: z.literal(1),
  serverId: ServerId.transform((s) => s.toLowerCase()),
  reason: Text(1024),
  source: Text(128),
  host: HostName.optional(),
  boot: Text(128).optional(),
  signature: Text(256).optional(),
  at: At.optional(),
});

const Dimension = z.object({ name: z.string().optional(), Name: z.string().optional(), value: z.unknown().optional(), Value: z.unknown().optional() });
const Alarm = z.object({
  AlarmName: z.string(),
  NewStateValue: z.string(),
  NewStateReason: z.string().optional(),
  StateChangeTime: z.string().optional(),
  Trigger: z.object({
    Dimensions: z.array(Dimension).optional(),
    /** Metric math alarms name their metrics here. */
    Metrics: z.array(z.object({ MetricStat: z.object({ Metric: z.object({ Dimensions: z.array(Dimension).optional() }).optional() }).optional() })).optional(),
  }).optional(),
});
const SnsEnvelope = z.object({ Type: z.literal('Notification'), Message: z.string(), TopicArn: z.string().optional(), Timestamp: z.string().optional() });

const SERVER_DIMENSIONS = new Set(['serverid', 'server_id', 'instanceid', 'instance_id', 'instance_uuid']);

/** 1 MiB is SQS's own limit; anything near it is not an event. */
const MAX_EVENT_BYTES = 256 * 1024;

/** One events-queue message body -> an event, an ignored message, or MalformedEvent. `receivedAt`: the queue's SentTimestamp. */
export function parseCrashEvent(body: string, receivedAt: number): ParsedEvent {
  if (Buffer.byteLength(body) > MAX_EVENT_BYTES) throw new MalformedEvent(`event of ${Buffer.byteLength(body)} bytes (at most ${MAX_EVENT_BYTES})`);
  const json = parseJson(body, 'the message is not JSON');
  if (isObject(json) && 'v' in json) {
    const parsed = CrashEventV1.safeParse(json);
    if (!parsed.success) throw new MalformedEvent(`not a version 1 event: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`).join('; ')}`);
    const { at, ...rest } = parsed.data;
    return { kind: 'event', event: dropUndefined({ ...rest, at: at ?? receivedAt }) };
  }
  const envelope = SnsEnvelope.safeParse(json);
  const alarmJson = envelope.success ? parseJson(envelope.data.Message, 'the SNS Message is not JSON') : json;
  const alarm = Alarm.safeParse(alarmJson);
  if (!alarm.success) throw new MalformedEvent('neither a version 1 event ({"v":1,...}) nor a CloudWatch alarm notification');
  return fromAlarm(alarm.data, receivedAt);
}

function fromAlarm(alarm: z.infer<typeof Alarm>, receivedAt: number): ParsedEvent {
  if (alarm.NewStateValue !== 'ALARM') return { kind: 'ignored', why: `alarm ${alarm.AlarmName} went to ${alarm.NewStateValue}` };
  const dimensions = [
    ...(alarm.Trigger?.Dimensions ?? []),
    ...(alarm.Trigger?.Metrics ?? []).flatMap((m) => m.MetricStat?.Metric?.Dimensions ?? []),
  ];
  const named = dimensions
    .filter((d) => SERVER_DIMENSIONS.has(String(d.name ?? d.Name ?? '').toLowerCase()))
    .map((d) => String(d.value ?? d.Value ?? ''))
    .filter((v) => ServerId.safeParse(v).success);
  if (named.length === 0) return { kind: 'ignored', why: `alarm ${alarm.AlarmName} names no server id in a ServerId/InstanceId dimension` };
  const changed = alarm.StateChangeTime === undefined ? Number.NaN : Date.parse(alarm.StateChangeTime.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  return {
    kind: 'event',
    event: {
      serverId: named[0]!.toLowerCase(),
      reason: `CloudWatch alarm ${alarm.AlarmName.slice(0, 200)}: ${(alarm.NewStateReason ?? 'ALARM').slice(0, 800)}`,
      source: 'cloudwatch-alarm',
      at: Number.isFinite(changed) ? changed : receivedAt,
    },
  };
}

function parseJson(text: string, problem: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedEvent(problem);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
