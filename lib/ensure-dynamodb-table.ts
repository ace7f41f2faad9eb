import { CreateTableCommand, DescribeTableCommand, ResourceNotFoundException, type CreateTableCommandInput, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Create a table when missing and wait until it is ACTIVE: for local stacks and tests, where no
 * CloudFormation runs (in AWS it owns every table). An existing table is left as it is.
 */
export async function ensureDynamoDbTable(client: DynamoDBClient, definition: CreateTableCommandInput): Promise<void> {
  const tableName = definition.TableName!;
  try {
    await client.send(new CreateTableCommand(definition));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceInUseException') throw err;
  }
  for (let i = 0; i < 100; i++) {
    try {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      if (Table?.TableStatus === 'ACTIVE') return;
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`table ${tableName} did not become ACTIVE`);
}
