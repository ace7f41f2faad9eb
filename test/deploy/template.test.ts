import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cfnValue, isAllowed, type IamRequest, type Statement } from '../helpers/iam-policy.ts';

// The deploy artefact as an operator gets it: `osls package` of a deployed stage, read as the
// CloudFormation it hands to AWS (no credentials needed).
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OSLS = join(ROOT, 'node_modules/osls/bin/serverless.js');
const STAGE = 'tmpltest';
const run = promisify(execFile);

type Resource = { Type: string; Properties?: Record<string, any>; DependsOn?: unknown };
type Template = { Resources: Record<string, Resource>; Outputs: Record<string, { Value: unknown }>; Conditions?: Record<string, unknown> };

/** The test's environment without any vmconsole setting of the machine running it. */
function cleanEnv(extra: Record<string, string>, folder: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VMCONSOLE_')));
  return { ...env, VMCONSOLE_ESBUILD_FOLDER: join(folder, 'esbuild'), ...extra };
}

function osls(args: string[], env: NodeJS.ProcessEnv) {
  return run(process.execPath, [OSLS, ...args], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });
}

const SECRET_PARAMETER = '/vmconsole/tmpltest/jwt-secret';
/** The functions that authenticate callers (Nova API, remote consoles, /vmconsole/v1, and the queue router's tokens). */
const AUTHENTICATING = [
  'ServerAction', 'CreateRemoteConsole', 'ShowServer', 'ListServers', 'ListServices', 'ListDiagnoses', 'RequestDiagnosis', 'RouteConsoleRequests',
  'GetScreenshot', 'ReadConsole', 'ListConsoles',
];

let folder: string;
let template: Template;
const resources = () => Object.entries(template.Resources);
const ofType = (type: string) => resources().filter(([, r]) => r.Type === type);

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vmconsole-template-'));
  const env = cleanEnv({
    VMCONSOLE_AUTH_MODE: 'jwt',
    VMCONSOLE_JWT_SECRET_PARAMETER: SECRET_PARAMETER,
    VMCONSOLE_JWT_ISSUER: 'https://idp.example.com',
    VMCONSOLE_JWT_AUDIENCE: 'vmconsole',
  }, folder);
  await osls(['package', '--stage', STAGE, '--package', join(folder, 'package')], env);
  template = JSON.parse(await readFile(join(folder, 'package', 'cloudformation-template-update-stack.json'), 'utf8'));
}, 180_000);

afterAll(async () => {
  if (folder) await rm(folder, { recursive: true, force: true });
});

const LOG_GROUPS = `arn:aws:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/vmconsole-${STAGE}-*:*`;

/** Every statement of every IAM role and managed policy, with where it comes from. */
function statements(): { where: string; statement: Record<string, any> }[] {
  const found: { where: string; statement: Record<string, any> }[] = [];
  const add = (where: string, document: any) => {
    for (const statement of [document?.Statement ?? []].flat()) found.push({ where, statement });
  };
  for (const [id, r] of ofType('AWS::IAM::Role')) for (const p of r.Properties?.Policies ?? []) add(`${id}/${p.PolicyName}`, p.PolicyDocument);
  for (const [id, r] of ofType('AWS::IAM::ManagedPolicy')) add(id, r.Properties?.PolicyDocument);
  for (const [id, r] of ofType('AWS::IAM::Policy')) add(id, r.Properties?.PolicyDocument);
  return found;
}

describe('the packaged CloudFormation of a deployed stage', () => {
  it('gives no role the account-wide AWSLambdaBasicExecutionRole (or any managed policy)', () => {
    const roles = ofType('AWS::IAM::Role');
    expect(roles.length).toBeGreaterThan(0);
    expect(JSON.stringify(template)).not.toContain('AWSLambdaBasicExecutionRole');
    for (const [id, role] of roles) expect(role.Properties?.ManagedPolicyArns, id).toBeUndefined();
  });

  it('lets every function role write logs, only to the service\'s own log groups, which the template creates', () => {
    const logs = statements().filter(({ statement }) => [statement.Action].flat().some((a: string) => a === '*' || a.startsWith('logs:')));
    for (const { where, statement } of logs) {
      expect(statement.Effect, where).toBe('Allow');
      expect([statement.Action].flat().sort(), where).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
      expect(statement.Resource, where).toEqual({ 'Fn::Sub': LOG_GROUPS });
    }
    const roleIds = ofType('AWS::IAM::Role').map(([id]) => id);
    expect(new Set(logs.map(({ where }) => where.split('/')[0]))).toEqual(new Set(roleIds));
    // No logs:CreateLogGroup needed: every function's log group is a resource of the stack.
    const groups = new Set(ofType('AWS::Logs::LogGroup').map(([, r]) => r.Properties?.LogGroupName));
    for (const [id, fn] of ofType('AWS::Lambda::Function')) {
      expect(groups, id).toContain(`/aws/lambda/${fn.Properties?.FunctionName}`);
      expect(fn.Properties?.FunctionName, id).toMatch(new RegExp(`^vmconsole-${STAGE}-`));
    }
  });

  it('reserves concurrency for the console function and bounds the queue consumers', () => {
    const console = template.Resources.ServerActionLambdaFunction!;
    expect(console.Properties?.ReservedConcurrentExecutions).toBe(100);
    for (const id of ['RouteConsoleRequestsEventSourceMappingSQSRequestQueue', 'DiagnoseConsoleEventSourceMappingSQSEventsQueue']) {
      expect(template.Resources[id]?.Properties?.ScalingConfig?.MaximumConcurrency, id).toBeGreaterThanOrEqual(2);
    }
  });

  it('throttles every route of the HTTP API stage and logs its requests', () => {
    const stage = template.Resources.HttpApiStage!;
    const settings = stage.Properties?.DefaultRouteSettings;
    expect(settings.ThrottlingRateLimit).toBeGreaterThan(0);
    expect(settings.ThrottlingBurstLimit).toBeGreaterThanOrEqual(settings.ThrottlingRateLimit);
    const access = stage.Properties?.AccessLogSettings;
    expect(access.DestinationArn).toEqual({ 'Fn::GetAtt': ['HttpApiLogGroup', 'Arn'] });
    expect(JSON.parse(access.Format)).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
    expect(template.Resources.HttpApiLogGroup?.Properties?.RetentionInDays).toBeGreaterThan(0);
  });

  it('tags every taggable resource with service, stage and component', () => {
    const expected = { service: 'vmconsole', stage: STAGE, component: 'edge' };
    const taggable = ['AWS::Lambda::Function', 'AWS::SQS::Queue', 'AWS::DynamoDB::Table', 'AWS::SNS::Topic', 'AWS::S3::Bucket', 'AWS::IAM::Role', 'AWS::ApiGatewayV2::Api', 'AWS::ApiGatewayV2::Stage'];
    const checked = new Set<string>();
    for (const [id, r] of resources().filter(([, r]) => taggable.includes(r.Type))) {
      const tags = r.Properties?.Tags;
      const asMap = Array.isArray(tags) ? Object.fromEntries(tags.map((t: { Key: string; Value: string }) => [t.Key, t.Value])) : tags;
      expect(asMap, `${id} (${r.Type})`).toMatchObject(expected);
      checked.add(r.Type);
    }
    expect([...checked].sort()).toEqual([...taggable].sort());
  });

  it('outputs the compute endpoint: the HTTP API URL and /v2.1', () => {
    expect(template.Outputs.ComputeEndpoint?.Value).toEqual({
      'Fn::Join': ['', ['https://', { Ref: 'HttpApi' }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/v2.1']],
    });
  });

  it('holds no secret: the functions that authenticate get the SSM parameter\'s name, the others no auth setting at all', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(AUTHENTICATING.length);
    for (const [id, fn] of functions) {
      const env: Record<string, string> = fn.Properties?.Environment?.Variables ?? {};
      if (AUTHENTICATING.includes(id.replace(/LambdaFunction$/, ''))) {
        expect(env.VMCONSOLE_JWT_SECRET_PARAMETER, id).toBe(SECRET_PARAMETER);
        expect(env.VMCONSOLE_JWT_SECRET, id).toBe('');
        expect(env.VMCONSOLE_AUTH_MODE, id).toBe('jwt');
      } else {
        expect(Object.keys(env).filter((name) => /AUTH|JWT|KEYSTONE|SSM/.test(name)), id).toEqual([]);
      }
    }
  });

  it('lets only the roles of the functions that authenticate read and decrypt the secret, that parameter only and only through SSM', () => {
    const roleOf = (id: string) => (template.Resources[`${id}LambdaFunction`]!.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const allowed = new Set(AUTHENTICATING.map(roleOf));
    const others = ofType('AWS::Lambda::Function').map(([id]) => id.replace(/LambdaFunction$/, '')).filter((id) => !AUTHENTICATING.includes(id)).map(roleOf);
    expect(others.length).toBeGreaterThan(0);
    for (const role of others) expect(allowed, `${role} serves a function that does not authenticate`).not.toContain(role);

    const policy = template.Resources.AuthSecretsPolicy!;
    expect(policy.Type).toBe('AWS::IAM::Policy');
    expect(new Set((policy.Properties?.Roles as { Ref: string }[]).map((r) => r.Ref))).toEqual(allowed);
    const arn = { 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${SECRET_PARAMETER}` };
    const [read, decrypt] = policy.Properties?.PolicyDocument.Statement;
    expect(read).toEqual({ Sid: 'ReadAuthSecrets', Effect: 'Allow', Action: ['ssm:GetParameter'], Resource: [arn] });
    expect(decrypt).toMatchObject({ Effect: 'Allow', Action: ['kms:Decrypt'] });
    expect(decrypt.Condition.StringEquals).toEqual({ 'kms:ViaService': { 'Fn::Sub': 'ssm.${AWS::Region}.amazonaws.com' }, 'kms:EncryptionContext:PARAMETER_ARN': [arn] });

    // Nothing else in the template reads SSM or decrypts.
    const grants = statements().filter(({ statement }) => [statement.Action].flat().some((a: string) => /^(ssm|kms):|^\*$/.test(a)));
    expect(grants.map(({ where }) => where)).toEqual(['AuthSecretsPolicy', 'AuthSecretsPolicy']);
    expect(template.Conditions?.HasAuthSecrets).toEqual({ 'Fn::Equals': ['true', 'true'] });
  });

  describe('alarms', () => {
    const alarms = () => ofType('AWS::CloudWatch::Alarm');
    const alarm = (id: string) => template.Resources[id]!.Properties!;
    /** The logical ids a math alarm sums, by the dimension it names them with. */
    const summed = (id: string) => {
      const [total, ...metrics] = alarm(id).Metrics as any[];
      expect(total, id).toMatchObject({ Expression: 'SUM(METRICS())', ReturnData: true });
      expect(metrics.length, id).toBeLessThanOrEqual(10);
      return metrics.map((m) => {
        expect(m.ReturnData, id).toBe(false);
        return { metric: m.MetricStat.Metric.MetricName as string, ref: m.MetricStat.Metric.Dimensions[0].Value.Ref as string };
      });
    };
    const functionIds = () => ofType('AWS::Lambda::Function').map(([id]) => id).sort();

    it('notify the stack\'s alarm topic when they fire and when they clear; an email subscription only when configured', () => {
      expect(alarms().map(([id]) => id).sort()).toEqual([
        'Api5xxAlarm', 'BackgroundFunctionErrorsAlarm', 'BackgroundFunctionThrottlesAlarm', 'DirectoryApiFunctionErrorsAlarm', 'DirectoryApiFunctionThrottlesAlarm',
        'DynamoDbThrottlesAlarm', 'EventsDeadLetterQueueAlarm', 'HostApiFunctionErrorsAlarm', 'HostApiFunctionThrottlesAlarm', 'HostDeadLetterAlarm', 'HostsDownAlarm', 'RequestDeadLetterQueueAlarm',
      ]);
      for (const [id, a] of alarms()) {
        expect(a.Properties?.AlarmActions, id).toEqual([{ Ref: 'AlarmTopic' }]);
        expect(a.Properties?.OKActions, id).toEqual([{ Ref: 'AlarmTopic' }]);
        expect(a.Properties?.AlarmName, id).toMatch(new RegExp(`^vmconsole-${STAGE}-`));
        expect(a.Properties?.AlarmDescription, id).toMatch(/README, "(Alarms|Redriving a DLQ)"/);
      }
      expect(template.Resources.AlarmTopic?.Type).toBe('AWS::SNS::Topic');
      expect(template.Resources.AlarmEmailSubscription).toMatchObject({ Type: 'AWS::SNS::Subscription', Condition: 'HasAlarmEmail' });
      expect(template.Conditions?.HasAlarmEmail).toEqual({ 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] });
    });

    it('watch every function\'s errors and throttles, each function in exactly one errors and one throttles alarm', () => {
      for (const [metric, ids] of [['Errors', ['HostApiFunctionErrorsAlarm', 'DirectoryApiFunctionErrorsAlarm', 'BackgroundFunctionErrorsAlarm']], ['Throttles', ['HostApiFunctionThrottlesAlarm', 'DirectoryApiFunctionThrottlesAlarm', 'BackgroundFunctionThrottlesAlarm']]] as const) {
        const watched = ids.flatMap((id) => summed(id));
        expect(new Set(watched.map((w) => w.metric))).toEqual(new Set([metric]));
        expect(watched.map((w) => w.ref).sort()).toEqual(functionIds());
      }
    });

    it('watch the HTTP API\'s share of 5xx answers', () => {
      const a = alarm('Api5xxAlarm');
      const byId = Object.fromEntries((a.Metrics as any[]).map((m) => [m.Id, m]));
      expect(byId.share).toMatchObject({ Expression: 'IF(requests >= 20, 100 * errors / requests, 0)', ReturnData: true });
      expect(byId.errors.MetricStat.Metric).toEqual({ Namespace: 'AWS/ApiGateway', MetricName: '5xx', Dimensions: [{ Name: 'ApiId', Value: { Ref: 'HttpApi' } }] });
      expect(byId.requests.MetricStat.Metric).toEqual({ Namespace: 'AWS/ApiGateway', MetricName: 'Count', Dimensions: [{ Name: 'ApiId', Value: { Ref: 'HttpApi' } }] });
      expect(a).toMatchObject({ ComparisonOperator: 'GreaterThanThreshold', Threshold: 5 });
    });

    it('fire when any dead-letter queue of the stack holds a message, and on the agents\' DLQ arrivals for the per-host DLQs', async () => {
      const { METRIC, METRICS_NAMESPACE } = await import('../../lib/metrics.ts');
      const { AGENT_SERVICE } = await import('../../lib/logger.ts');
      const dlqs = ofType('AWS::SQS::Queue').flatMap(([, q]) => (q.Properties?.RedrivePolicy ? [q.Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0] as string] : [])).sort();
      expect(dlqs.length).toBeGreaterThan(0);
      const watched = alarms()
        .filter(([, a]) => a.Properties?.Namespace === 'AWS/SQS')
        .map(([id, a]) => {
          expect(a.Properties).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Statistic: 'Maximum', ComparisonOperator: 'GreaterThanThreshold', Threshold: 0 });
          expect(a.Properties?.Dimensions[0].Name, id).toBe('QueueName');
          return a.Properties?.Dimensions[0].Value['Fn::GetAtt'][0] as string;
        })
        .sort();
      expect(watched).toEqual(dlqs);
      // The metric the agents really emit (lib/metrics.ts, lib/transport/meter-responder-events.ts).
      expect(alarm('HostDeadLetterAlarm')).toMatchObject({
        Namespace: METRICS_NAMESPACE, MetricName: METRIC.deadLettered, Dimensions: [{ Name: 'service', Value: AGENT_SERVICE }], Statistic: 'Sum', ComparisonOperator: 'GreaterThanThreshold', Threshold: 0,
      });
    });

    it('fire when a host is down for three minutes, from the health count the stack runs every minute', async () => {
      const { METRIC, METRICS_NAMESPACE } = await import('../../lib/metrics.ts');
      const { HEALTH_SERVICE } = await import('../../lib/logger.ts');
      expect(alarm('HostsDownAlarm')).toMatchObject({
        Namespace: METRICS_NAMESPACE, MetricName: METRIC.hostsDown, Dimensions: [{ Name: 'service', Value: HEALTH_SERVICE }],
        Statistic: 'Maximum', Period: 60, EvaluationPeriods: 3, ComparisonOperator: 'GreaterThanOrEqualToThreshold', Threshold: 1, TreatMissingData: 'breaching',
      });
      expect(template.Resources.MeasureHostHealthEventsRuleSchedule1?.Properties).toMatchObject({ ScheduleExpression: 'rate(1 minute)', State: 'ENABLED' });
      const role = template.Resources.HostHealthRole!.Properties?.Policies.find((p: { PolicyName: string }) => p.PolicyName === 'host-health');
      expect(role.PolicyDocument.Statement).toEqual([{ Sid: 'ReadHostRecords', Effect: 'Allow', Action: ['dynamodb:Scan'], Resource: { 'Fn::GetAtt': ['DirectoryTable', 'Arn'] } }]);
    });

    it('watch read and write throttling of every DynamoDB table', () => {
      const watched = summed('DynamoDbThrottlesAlarm');
      const tables = ofType('AWS::DynamoDB::Table').map(([id]) => id);
      expect(watched.sort((a, b) => `${a.ref}${a.metric}`.localeCompare(`${b.ref}${b.metric}`))).toEqual(
        tables.sort().flatMap((ref) => [{ metric: 'ReadThrottleEvents', ref }, { metric: 'WriteThrottleEvents', ref }]),
      );
    });
  });

  it('refuses to package a deployed stage without authentication, saying what to set', async () => {
    const failed = await osls(['package', '--stage', STAGE, '--package', join(folder, 'refused')], cleanEnv({}, folder)).then(
      () => undefined,
      (error: { code?: number; stdout: string; stderr: string }) => error,
    );
    expect(failed?.code).not.toBe(0);
    expect(`${failed?.stdout}${failed?.stderr}`).toContain(`no usable authentication for stage "${STAGE}": jwt mode needs VMCONSOLE_JWT_SECRET`);
  });
});

describe('the deploy-time auth check (deploy/check-auth.cjs)', async () => {
  const { createRequire } = await import('node:module');
  const { problem } = createRequire(import.meta.url)('../../deploy/check-auth.cjs') as {
    problem: (stage: string) => { mode: string; error?: string };
  };
  const withEnv = (env: Record<string, string>, stage: string) => {
    const saved = { ...process.env };
    for (const name of Object.keys(process.env)) if (name.startsWith('VMCONSOLE_')) delete process.env[name];
    Object.assign(process.env, env);
    try {
      return problem(stage);
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  };

  it('keeps secret values out of a deployed stage\'s template: SSM parameter names only', () => {
    const issuer = { VMCONSOLE_JWT_ISSUER: 'i', VMCONSOLE_JWT_AUDIENCE: 'a' };
    expect(withEnv({ ...issuer, VMCONSOLE_JWT_SECRET: 'x'.repeat(40) }, 'prod').error).toMatch(/VMCONSOLE_JWT_SECRET would put the secret itself in the template.*set VMCONSOLE_JWT_SECRET_PARAMETER/);
    expect(withEnv({ ...issuer, VMCONSOLE_JWT_SECRET_PARAMETER: '/vmconsole/prod/jwt' }, 'prod')).toEqual({ mode: 'jwt' });
    const keystone = { VMCONSOLE_AUTH_MODE: 'keystone', VMCONSOLE_KEYSTONE_URL: 'https://keystone.example.com', VMCONSOLE_KEYSTONE_APP_CREDENTIAL_ID: 'id' };
    expect(withEnv({ ...keystone, VMCONSOLE_KEYSTONE_APP_CREDENTIAL_SECRET: 's' }, 'prod').error).toMatch(/VMCONSOLE_KEYSTONE_APP_CREDENTIAL_SECRET_PARAMETER/);
    expect(withEnv({ VMCONSOLE_JWT_SECRET: 'x'.repeat(40) }, 'local')).toEqual({ mode: 'jwt' });
  });

  it('exempts the local stage', () => {
    expect(withEnv({}, 'local')).toEqual({ mode: 'jwt' });
    expect(withEnv({ VMCONSOLE_AUTH_MODE: 'noauth' }, 'local')).toEqual({ mode: 'noauth' });
  });

  it('refuses noauth in a deployed stage unless VMCONSOLE_ALLOW_NOAUTH=true', () => {
    expect(withEnv({ VMCONSOLE_AUTH_MODE: 'noauth' }, 'prod').error).toMatch(/VMCONSOLE_ALLOW_NOAUTH=true/);
    expect(withEnv({ VMCONSOLE_AUTH_MODE: 'noauth', VMCONSOLE_ALLOW_NOAUTH: 'true' }, 'prod')).toEqual({ mode: 'noauth' });
  });

  it('wants a key source, and issuer and audience, for jwt (not for Keystone JWS tokens)', () => {
    expect(withEnv({ VMCONSOLE_JWKS_URL: 'https://idp.example.com/jwks' }, 'prod').error).toMatch(/VMCONSOLE_JWT_ISSUER/);
    expect(withEnv({ VMCONSOLE_JWKS_URL: 'https://idp.example.com/jwks', VMCONSOLE_JWT_ISSUER: 'i', VMCONSOLE_JWT_AUDIENCE: 'a' }, 'prod')).toEqual({ mode: 'jwt' });
    expect(withEnv({ VMCONSOLE_JWKS_URL: 'https://k.example.com/jwks', VMCONSOLE_JWT_PROFILE: 'keystone-jws' }, 'prod')).toEqual({ mode: 'jwt' });
  });

  it('wants the Keystone URL and one complete kind of service credentials for keystone', () => {
    const url = { VMCONSOLE_AUTH_MODE: 'keystone', VMCONSOLE_KEYSTONE_URL: 'https://keystone.example.com' };
    expect(withEnv({ VMCONSOLE_AUTH_MODE: 'keystone' }, 'prod').error).toMatch(/VMCONSOLE_KEYSTONE_URL/);
    expect(withEnv({ ...url, VMCONSOLE_KEYSTONE_USERNAME: 'vmconsole' }, 'prod').error).toMatch(/_PASSWORD/);
    expect(withEnv({ ...url, VMCONSOLE_KEYSTONE_APP_CREDENTIAL_ID: 'id', VMCONSOLE_KEYSTONE_APP_CREDENTIAL_SECRET_PARAMETER: '/vmconsole/prod/app-secret' }, 'prod')).toEqual({ mode: 'keystone' });
    expect(withEnv({ ...url, VMCONSOLE_KEYSTONE_USERNAME: 'vmconsole', VMCONSOLE_KEYSTONE_PASSWORD_PARAMETER: '/vmconsole/prod/password', VMCONSOLE_KEYSTONE_PROJECT_NAME: 'service' }, 'prod')).toEqual({ mode: 'keystone' });
    expect(withEnv({ VMCONSOLE_AUTH_MODE: 'kerberos' }, 'prod').error).toMatch(/must be "noauth", "jwt" or "keystone"/);
  });
});

describe('the auth secrets policy\'s resources (deploy/auth-secrets.cjs)', async () => {
  const { createRequire } = await import('node:module');
  const secrets = createRequire(import.meta.url)('../../deploy/auth-secrets.cjs') as { parameterArns: () => Promise<unknown[]>; any: () => Promise<string> };
  const withEnv = async <T>(env: Record<string, string>, read: () => Promise<T>): Promise<T> => {
    const saved = { ...process.env };
    for (const name of Object.keys(process.env)) if (name.startsWith('VMCONSOLE_')) delete process.env[name];
    Object.assign(process.env, env);
    try {
      return await read();
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  };

  it('names each parameter once, without a pinned version\'s selector, and refuses what is not a parameter name', async () => {
    const arn = (name: string) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${name}` });
    expect(await withEnv({ VMCONSOLE_JWT_SECRET_PARAMETER: '/vmconsole/prod/jwt:4', VMCONSOLE_KEYSTONE_PASSWORD_PARAMETER: 'keystone-password' }, secrets.parameterArns))
      .toEqual([arn('/vmconsole/prod/jwt'), arn('/keystone-password')]);
    expect(await withEnv({}, secrets.any)).toBe('false');
    await expect(withEnv({ VMCONSOLE_JWT_SECRET_PARAMETER: '/x/${AWS::AccountId}' }, secrets.parameterArns)).rejects.toThrow(/not an SSM parameter name/);
  });
});

describe('per-host least privilege, evaluated on the packaged policy documents', () => {
  const ACCOUNT = 'arn:aws:sqs:us-east-1:123456789012';
  const queue = (host: string) => `${ACCOUNT}:vmconsole-${STAGE}-host-${host}`;
  const TABLE = `arn:aws:dynamodb:us-east-1:123456789012:table/vmconsole-${STAGE}-directory`;
  const SERVER = 'server#6f1c2a9e-4c1b-4a7e-9a51-0c8d9e3f2b11';
  const policyOf = (id: string): Statement[] => [cfnValue(template.Resources[id]!.Properties!.PolicyDocument, template) as { Statement: Statement[] }].flatMap((d) => d.Statement);
  const roleStatements = (id: string): Statement[] => (template.Resources[id]!.Properties!.Policies as { PolicyDocument: unknown }[])
    .flatMap((p) => (cfnValue(p.PolicyDocument, template) as { Statement: Statement[] }).Statement);
  const asHost = (host: string | undefined, action: string, resource: string, extra: IamRequest['context'] = {}): IamRequest => ({
    action, resource, context: { ...(host !== undefined && { 'aws:PrincipalTag/vmconsole-host': host }), ...extra },
  });
  const item = (host: string | undefined, action: string, ...keys: string[]) => asHost(host, action, TABLE, { 'dynamodb:LeadingKeys': keys });
  let agent: Statement[];
  beforeAll(() => {
    agent = policyOf('AgentPolicy');
  });

  it('the evaluator itself: Deny wins, wildcards, variables, and ForAllValues over no keys', () => {
    const allow = { Effect: 'Allow', Action: 'sqs:Receive*', Resource: 'arn:q-${aws:PrincipalTag/h}' };
    expect(isAllowed([allow], { action: 'sqs:ReceiveMessage', resource: 'arn:q-a', context: { 'aws:PrincipalTag/h': 'a' } })).toBe(true);
    expect(isAllowed([allow], { action: 'sqs:ReceiveMessage', resource: 'arn:q-a', context: {} })).toBe(false);
    expect(isAllowed([allow, { Effect: 'Deny', Action: '*', Resource: '*' }], { action: 'sqs:ReceiveMessage', resource: 'arn:q-a', context: { 'aws:PrincipalTag/h': 'a' } })).toBe(false);
    const keyed = { Effect: 'Allow', Action: 'dynamodb:*', Resource: '*', Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['k'] } } };
    expect(isAllowed([keyed], { action: 'dynamodb:Scan', resource: 't', context: {} })).toBe(true);
    expect(isAllowed([keyed], { action: 'dynamodb:PutItem', resource: 't', context: { 'dynamodb:LeadingKeys': ['k', 'other'] } })).toBe(false);
    expect(() => isAllowed([{ Effect: 'Allow', NotAction: 'x', Resource: '*' }], { action: 'x', resource: 'y', context: {} })).toThrow(/unsupported/);
  });

  it('a host serves its own queue, and cannot receive, hide, answer or reconfigure another host\'s (nor its DLQ)', () => {
    for (const action of ['sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']) {
      expect(isAllowed(agent, asHost('compute-a', action, queue('compute-a'))), `${action} own`).toBe(true);
      expect(isAllowed(agent, asHost('compute-a', action, queue('compute-b'))), `${action} B`).toBe(false);
      expect(isAllowed(agent, asHost('compute-a', action, `${queue('compute-b')}-dlq`)), `${action} B's DLQ`).toBe(false);
      // A principal without the tag has no host queue at all.
      expect(isAllowed(agent, asHost(undefined, action, queue('compute-a'))), `${action} untagged`).toBe(false);
    }
    for (const action of ['sqs:CreateQueue', 'sqs:SetQueueAttributes', 'sqs:DeleteQueue', 'sqs:TagQueue', 'sqs:AddPermission', 'sqs:PurgeQueue', 'sqs:SendMessage']) {
      expect(isAllowed(agent, asHost('compute-a', action, queue('compute-a'))), `${action} own`).toBe(false);
      expect(isAllowed(agent, asHost('compute-a', action, queue('compute-b'))), `${action} B`).toBe(false);
    }
    // What it must still do: answer the edge and automation clients, report crashes.
    expect(isAllowed(agent, asHost('compute-a', 'sqs:SendMessage', `${ACCOUNT}:vmconsole-${STAGE}-reply-0b1e`))).toBe(true);
    expect(isAllowed(agent, asHost('compute-a', 'sqs:SendMessage', `${ACCOUNT}:vmconsole-${STAGE}-events`))).toBe(true);
  });

  it('a host writes only its own heartbeat and inventory items, and no server record or another host\'s item', () => {
    for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:GetItem']) {
      expect(isAllowed(agent, item('compute-a', action, 'host#compute-a')), `${action} own host item`).toBe(true);
      expect(isAllowed(agent, item('compute-a', action, 'inventory#compute-a')), `${action} own inventory`).toBe(true);
      expect(isAllowed(agent, item('compute-a', action, 'host#compute-b')), `${action} B's host item`).toBe(false);
      expect(isAllowed(agent, item('compute-a', action, 'inventory#compute-b')), `${action} B's inventory`).toBe(false);
      expect(isAllowed(agent, item('compute-a', action, SERVER)), `${action} a server record`).toBe(false);
      expect(isAllowed(agent, item(undefined, action, 'host#compute-a')), `${action} untagged`).toBe(false);
    }
    for (const action of ['dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:TransactWriteItems', 'dynamodb:PartiQLUpdate', 'dynamodb:Scan']) {
      expect(isAllowed(agent, item('compute-a', action, 'host#compute-a')), action).toBe(false);
      expect(isAllowed(agent, item('compute-a', action)), `${action} without keys`).toBe(false);
    }
    expect(isAllowed(agent, asHost('compute-a', 'dynamodb:Query', `${TABLE}/index/byHost`, { 'dynamodb:LeadingKeys': ['compute-b'] }))).toBe(false);
  });

  it('only the registrar writes server records; only enrolment creates host queues, with their tags', () => {
    const registrar = roleStatements('RegistrarRole');
    for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']) expect(isAllowed(registrar, item(undefined, action, SERVER)), action).toBe(true);
    expect(isAllowed(registrar, asHost(undefined, 'dynamodb:GetRecords', `${TABLE}/stream/2026-01-01T00:00:00.000`))).toBe(true);
    const writers = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Role' || r.Type === 'AWS::IAM::ManagedPolicy')
      .filter(([id]) => isAllowed(template.Resources[id]!.Type === 'AWS::IAM::Role' ? roleStatements(id) : policyOf(id), item('compute-a', 'dynamodb:PutItem', SERVER)))
      .map(([id]) => id);
    expect(writers).toEqual(['RegistrarRole']);
    const enrolment = policyOf('HostEnrolmentPolicy');
    for (const action of ['sqs:CreateQueue', 'sqs:SetQueueAttributes', 'sqs:TagQueue']) {
      expect(isAllowed(enrolment, asHost(undefined, action, queue('compute-b'))), action).toBe(true);
      expect(isAllowed(enrolment, asHost(undefined, action, `${ACCOUNT}:vmconsole-${STAGE}-requests`)), `${action} elsewhere`).toBe(false);
    }
    const fn = template.Resources.RegisterInventoryLambdaFunction!;
    expect(fn.Properties?.Role).toEqual({ 'Fn::GetAtt': ['RegistrarRole', 'Arn'] });
    const mapping = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping' && JSON.stringify(r.Properties?.EventSourceArn).includes('StreamArn'));
    expect(JSON.parse(mapping!.Properties!.FilterCriteria.Filters[0].Pattern)).toEqual({ dynamodb: { Keys: { pk: { S: [{ prefix: 'host#' }, { prefix: 'inventory#' }] } } } });
    expect(template.Resources.DirectoryTable!.Properties!.StreamSpecification).toEqual({ StreamViewType: 'KEYS_ONLY' });
    // The tags enrolment puts on host queues: the stack's own.
    expect(template.Outputs.HostQueueTags?.Value).toBe(`service=vmconsole,stage=${STAGE},component=edge`);
  });
});
