import type { CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureDynamoDbTable } from '../ensure-dynamodb-table.ts';

/** The attribute DynamoDB's TTL deletes by (epoch seconds); serverless.yml declares it, readers check it. */
export const TTL_ATTRIBUTE = 'expiresAt';

/**
 * The diagnoses table, as serverless.yml's DiagnosesTable declares it (keep the two in step):
 * partition `pk` = server id, sort `sk`:
 * - `d#<ISO time>#<id>`: one diagnosis; sorted by time, read newest first;
 * - `k#<sha256 of the crash key>`: the dedupe item, pointing at the diagnosis of that crash.
 * TTL cannot be set here: dynalite refuses UpdateTimeToLive, CloudFormation sets it in AWS, and
 * every read checks `expiresAt` itself (DynamoDB deletes expired items up to days late).
 */
export function diagnosesTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
  };
}

/** Create the table when missing (local stacks and tests; CloudFormation owns it in AWS). */
export function ensureDiagnosesTable(client: DynamoDBClient, tableName: string): Promise<void> {
  return ensureDynamoDbTable(client, diagnosesTableDefinition(tableName));
}
