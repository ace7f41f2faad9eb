import { describe, expect, it } from 'vitest';
import { benchIdleCost, DYNAMODB_PER_MILLION_READ_UNITS, DYNAMODB_PER_MILLION_WRITE_UNITS, SQS_PER_MILLION_REQUESTS } from '../../bench/idle-cost.ts';

describe('idle cost of an agent (bench/idle-cost.ts)', () => {
  it('counts a real idle agent\'s long polls and heartbeats and prices a month of them', async () => {
    const cost = await benchIdleCost({ windowMs: 20_000, heartbeatMs: 2_000 });
    // One 20 s long poll ends in a 20 s window; a 2 s heartbeat writes ten times. A steady host's
    // inventory is not rewritten and, deployed, the stack's registrar applies it: the agent reads nothing.
    expect(cost.sqsCalls).toEqual({ ReceiveMessage: 1 });
    expect(cost.dynamodbCalls.PutItem).toBeGreaterThanOrEqual(9);
    expect(cost.dynamodbCalls.PutItem).toBeLessThanOrEqual(10);
    expect(Object.keys(cost.dynamodbCalls)).toEqual(['PutItem']);
    const month = (30 * 24 * 3600) / 20;
    expect(cost.perMonth).toEqual({
      sqsRequests: month,
      dynamodbWriteUnits: cost.dynamodbCalls.PutItem! * month,
      dynamodbReadUnits: (cost.dynamodbCalls.Query ?? 0) * 0.5 * month,
    });
    expect(cost.dollarsPerMonth.sqs).toBeCloseTo(month * SQS_PER_MILLION_REQUESTS / 1e6, 6);
    expect(cost.dollarsPerMonth.total).toBeCloseTo(
      (cost.perMonth.sqsRequests * SQS_PER_MILLION_REQUESTS + cost.perMonth.dynamodbWriteUnits * DYNAMODB_PER_MILLION_WRITE_UNITS
        + cost.perMonth.dynamodbReadUnits * DYNAMODB_PER_MILLION_READ_UNITS) / 1e6, 6);
  }, 90_000);
});
