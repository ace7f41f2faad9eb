// fauxqs + dynalite in a process of their own, as AWS is to the edge and the agents: a test
// that loads them does not also starve its own clients' event loop. Prints the endpoints as one
// JSON line, stops on SIGTERM.
import { startEmbeddedAws } from '../../lib/local/embedded-aws.ts';

const aws = await startEmbeddedAws();
process.stdout.write(`${JSON.stringify({ sqsEndpoint: aws.sqsEndpoint, dynamodbEndpoint: aws.dynamodbEndpoint })}\n`);
process.on('SIGTERM', () => {
  void aws.stop().finally(() => process.exit(0));
});
