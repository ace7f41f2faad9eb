/**
 * A small IAM policy evaluator for the subset vmconsole's templates use, to check what a policy
 * document allows for concrete requests. Honest about its limits: a construct outside the subset
 * (NotAction, NotResource, an unknown condition operator) throws instead of being guessed at.
 *
 * - Effect Allow/Deny: an explicit Deny wins, else any Allow allows, else the implicit deny.
 * - Action and Resource: `*` and `?` wildcards; actions case-insensitively, resources not.
 * - Policy variables `${aws:PrincipalTag/key}` (and any `${key}` of the request context) in
 *   Resource and condition values; a resource whose variable the request lacks matches nothing.
 * - Conditions: StringEquals, StringLike, and their ForAllValues:/ForAnyValue: set forms, all
 *   keys and operators ANDed, a key's values ORed. A missing key fails a single-valued operator;
 *   ForAllValues over a missing or empty key is true, as in AWS (why a key condition alone does
 *   not confine an action without keys, such as Scan).
 *
 * Templates come as osls packages them: `cfnValue` resolves Fn::Sub, Fn::GetAtt, Ref and Fn::Join
 * for one region and account.
 */

export type Statement = Record<string, unknown>;
export interface IamRequest {
  action: string;
  resource: string;
  /** Condition keys of the request: `aws:PrincipalTag/vmconsole-host`, `dynamodb:LeadingKeys`, ... */
  context: Record<string, string | string[]>;
}

const SUPPORTED_KEYS = new Set(['Sid', 'Effect', 'Action', 'Resource', 'Condition']);

export function isAllowed(statements: readonly Statement[], request: IamRequest): boolean {
  let allowed = false;
  for (const statement of statements) {
    for (const key of Object.keys(statement)) if (!SUPPORTED_KEYS.has(key)) throw new Error(`unsupported policy element ${key}`);
    if (!matches(statement, request)) continue;
    if (statement.Effect === 'Deny') return false;
    if (statement.Effect === 'Allow') allowed = true;
    else throw new Error(`unknown Effect ${String(statement.Effect)}`);
  }
  return allowed;
}

function matches(statement: Statement, request: IamRequest): boolean {
  const actions = list(statement.Action);
  if (!actions.some((a) => wildcard(a.toLowerCase(), request.action.toLowerCase()))) return false;
  const resources = list(statement.Resource);
  if (!resources.some((r) => {
    const resolved = substitute(r, request.context);
    return resolved !== undefined && wildcard(resolved, request.resource);
  })) return false;
  return conditionHolds(statement.Condition as Record<string, Record<string, unknown>> | undefined, request.context);
}

function conditionHolds(condition: Record<string, Record<string, unknown>> | undefined, context: IamRequest['context']): boolean {
  if (condition === undefined) return true;
  return Object.entries(condition).every(([operator, keys]) => Object.entries(keys).every(([key, raw]) => {
    const wanted = list(raw).map((v) => substitute(v, context)).filter((v) => v !== undefined);
    const present = context[key];
    const values = present === undefined ? [] : [present].flat();
    const [qualifier, base] = operator.includes(':') ? operator.split(':') as [string, string] : [undefined, operator];
    const test = compare(base);
    if (qualifier === 'ForAllValues') return values.every((v) => wanted.some((w) => test(w, v)));
    if (qualifier === 'ForAnyValue') return values.some((v) => wanted.some((w) => test(w, v)));
    if (qualifier !== undefined) throw new Error(`unsupported condition qualifier ${qualifier}`);
    if (Array.isArray(present)) throw new Error(`${key} is multivalued: use ForAllValues or ForAnyValue`);
    return present !== undefined && wanted.some((w) => test(w, present));
  }));
}

function compare(operator: string): (wanted: string, value: string) => boolean {
  if (operator === 'StringEquals') return (w, v) => w === v;
  if (operator === 'StringLike') return (w, v) => wildcard(w, v);
  throw new Error(`unsupported condition operator ${operator}`);
}

/** `${key}` replaced from the context; undefined when a key is missing (the element matches nothing). */
function substitute(text: string, context: IamRequest['context']): string | undefined {
  let missing = false;
  const out = text.replace(/\$\{([^}]+)\}/g, (_, key: string) => {
    const value = context[key];
    if (typeof value !== 'string') {
      missing = true;
      return '';
    }
    return value;
  });
  return missing ? undefined : out;
}

function wildcard(pattern: string, value: string): boolean {
  const source = pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`, 's').test(value);
}

function list(value: unknown): string[] {
  if (value === undefined) return [];
  const values = [value].flat();
  for (const v of values) if (typeof v !== 'string') throw new Error(`unresolved policy value ${JSON.stringify(v)}`);
  return values as string[];
}

/** CloudFormation intrinsic functions of a packaged template, resolved for one region and account. */
export function cfnValue(value: unknown, template: { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> }, where = { region: 'us-east-1', account: '123456789012' }): unknown {
  const resource = (id: string) => {
    const r = template.Resources[id];
    if (!r) throw new Error(`no resource ${id}`);
    return r;
  };
  const attribute = (id: string, attr: string): string => {
    const r = resource(id);
    const name = r.Properties?.TableName ?? r.Properties?.QueueName;
    if (r.Type === 'AWS::DynamoDB::Table' && attr === 'Arn') return `arn:aws:dynamodb:${where.region}:${where.account}:table/${name}`;
    if (r.Type === 'AWS::DynamoDB::Table' && attr === 'StreamArn') return `arn:aws:dynamodb:${where.region}:${where.account}:table/${name}/stream/2026-01-01T00:00:00.000`;
    if (r.Type === 'AWS::SQS::Queue' && attr === 'Arn') return `arn:aws:sqs:${where.region}:${where.account}:${name}`;
    if (r.Type === 'AWS::S3::Bucket' && attr === 'Arn') return `arn:aws:s3:::${ref(id)}`;
    throw new Error(`unsupported Fn::GetAtt ${id}.${attr}`);
  };
  const ref = (id: string): string => {
    if (id === 'AWS::Region') return where.region;
    if (id === 'AWS::AccountId') return where.account;
    if (id === 'AWS::Partition') return 'aws';
    const r = resource(id);
    if (r.Type === 'AWS::DynamoDB::Table') return r.Properties?.TableName;
    if (r.Type === 'AWS::SQS::Queue') return `https://sqs.${where.region}.amazonaws.com/${where.account}/${r.Properties?.QueueName}`;
    if (r.Type === 'AWS::SNS::Topic') return `arn:aws:sns:${where.region}:${where.account}:${r.Properties?.TopicName}`;
    // A bucket without a name gets one generated at deploy time: the logical id stands in for it.
    if (r.Type === 'AWS::S3::Bucket') return r.Properties?.BucketName ?? id.toLowerCase();
    throw new Error(`unsupported Ref ${id}`);
  };
  const resolve = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    if ('Fn::Sub' in o) {
      const [text, vars] = Array.isArray(o['Fn::Sub']) ? o['Fn::Sub'] as [string, Record<string, unknown>] : [o['Fn::Sub'] as string, {}];
      return text.replace(/\$\{(!?)([^}]+)\}/g, (_, bang: string, name: string) => {
        if (bang) return `\${${name}}`;
        if (name in vars) return String(resolve(vars[name]));
        const dot = name.indexOf('.');
        return dot > 0 ? attribute(name.slice(0, dot), name.slice(dot + 1)) : ref(name);
      });
    }
    if ('Fn::GetAtt' in o) {
      const [id, attr] = o['Fn::GetAtt'] as [string, string];
      return attribute(id, attr);
    }
    if ('Ref' in o) return ref(o.Ref as string);
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => String(resolve(p))).join(sep);
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolve(x)]));
  };
  return resolve(value);
}
