import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small AWS Systems Manager Parameter Store on a free loopback port (fauxqs serves SQS, SNS and S3,
 * not SSM), speaking the real wire format of what vmconsole uses: the AWS JSON 1.1 protocol,
 * `POST /` with `Content-Type: application/x-amz-json-1.1` and `X-Amz-Target: AmazonSSM.GetParameter`,
 * a SigV4 `Authorization` header, body `{"Name", "WithDecryption"}`; the answer
 * `{"Parameter": {"Name", "Type", "Value", "Version", "LastModifiedDate", "ARN", "DataType"}}`
 * (LastModifiedDate in epoch seconds, as the JSON protocol sends timestamps). A SecureString read
 * without WithDecryption gives its ciphertext (base64), as SSM does. Errors are the protocol's
 * `{"__type", "message"}` with 400: ParameterNotFound, ValidationException; an unsigned request is
 * refused with MissingAuthenticationTokenException, another target with UnknownOperationException.
 */
export interface SsmCall {
  target: string | undefined;
  contentType: string | undefined;
  signed: boolean;
  body: { Name?: string; WithDecryption?: boolean };
}

interface Parameter { type: 'String' | 'SecureString'; value: string; version: number; modifiedAt: number }

export interface SsmStandIn {
  endpoint: string;
  calls: SsmCall[];
  /** PutParameter's effect (a new version), as `aws ssm put-parameter --overwrite` has it. */
  put(name: string, value: string, type?: Parameter['type']): void;
  /** Answer every request with this status and error type (SSM down, throttled), or normally again. */
  failWith(error: { status: number; type: string } | undefined): void;
  close(): Promise<void>;
}

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';

export async function startSsmStandIn(): Promise<SsmStandIn> {
  /** Every version of each parameter, oldest first: `name:version` reads an older one, as SSM's selector does. */
  const parameters = new Map<string, Parameter[]>();
  const calls: SsmCall[] = [];
  let failure: { status: number; type: string } | undefined;

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': Buffer.byteLength(text), 'x-amzn-RequestId': crypto.randomUUID() });
    res.end(text);
  };
  const error = (res: ServerResponse, status: number, type: string, message: string | null) => answer(res, status, { __type: type, message });

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = req.headers['x-amz-target'] as string | undefined;
      let body: SsmCall['body'] = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        error(res, 400, 'SerializationException', 'the body is not JSON');
        return;
      }
      const signed = /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[a-z0-9-]+\/ssm\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/.test(req.headers.authorization ?? '');
      calls.push({ target, contentType: req.headers['content-type'], signed, body });
      if (failure) return error(res, failure.status, failure.type, 'Rate exceeded');
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-amz-json-1.1') return error(res, 400, 'SerializationException', null);
      if (!signed) return error(res, 400, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
      if (target !== 'AmazonSSM.GetParameter') return error(res, 400, 'UnknownOperationException', null);
      const selector = body.Name;
      if (typeof selector !== 'string' || selector.length === 0) return error(res, 400, 'ValidationException', "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null");
      const [, name = '', version] = /^(.*?)(?::(\d+))?$/.exec(selector)!;
      const versions = parameters.get(name);
      if (!versions) return error(res, 400, 'ParameterNotFound', null);
      const parameter = version === undefined ? versions.at(-1) : versions.find((p) => p.version === Number(version));
      if (!parameter) return error(res, 400, 'ParameterVersionNotFound', `Systems Manager could not find version ${version} of ${name}.`);
      const value = parameter.type === 'SecureString' && body.WithDecryption !== true ? Buffer.from(`kms:${parameter.value}`).toString('base64') : parameter.value;
      answer(res, 200, {
        Parameter: {
          Name: name,
          ...(version !== undefined && { Selector: `:${version}` }),
          Type: parameter.type,
          Value: value,
          Version: parameter.version,
          LastModifiedDate: parameter.modifiedAt / 1000,
          ARN: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name.startsWith('/') ? '' : '/'}${name}`,
          DataType: 'text',
        },
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    put(name, value, type = 'SecureString') {
      const versions = parameters.get(name) ?? [];
      versions.push({ type, value, version: versions.length + 1, modifiedAt: Date.now() });
      parameters.set(name, versions);
    },
    failWith(error) {
      failure = error;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
