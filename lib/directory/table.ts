import type { CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureDynamoDbTable } from '../ensure-dynamodb-table.ts';

/**
 * The directory table, as serverless.yml's DirectoryTable declares it (keep the two in step):
 * one item per server (`server#<id>`, written only by the registrar), and per host its heartbeat
 * (`host#<name>`) and its inventory (`inventory#<name>`), the only items a host may write (IAM
 * dynamodb:LeadingKeys); `byProject` answers a tenant's name queries, `byHost` lets the registrar
 * reconcile a host's servers.
 */
export function directoryTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'projectId', AttributeType: 'S' },
      { AttributeName: 'name', AttributeType: 'S' },
      { AttributeName: 'host', AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [
      { IndexName: 'byProject', KeySchema: [{ AttributeName: 'projectId', KeyType: 'HASH' }, { AttributeName: 'name', KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } },
      { IndexName: 'byHost', KeySchema: [{ AttributeName: 'host', KeyType: 'HASH' }, { AttributeName: 'pk', KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } },
    ],
  };
}

/** Create the table when missing (local stacks and tests; CloudFormation owns it in AWS). */
export function ensureDirectoryTable(client: DynamoDBClient, tableName: string): Promise<void> {
  return ensureDynamoDbTable(client, directoryTableDefinition(tableName));
}
