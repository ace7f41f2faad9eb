import { awsClientOptions } from '../aws-client-options.ts';
import { fail, setting } from './config.ts';

/**
 * The auth settings that are secrets. In a deployed stage each comes from an SSM SecureString
 * whose name `<SETTING>_PARAMETER` gives (the template then holds a name, never a value, and only
 * the functions that authenticate may read it); locally the setting itself may hold the value.
 */
export const SECRET_SETTINGS = ['VMCONSOLE_JWT_SECRET', 'VMCONSOLE_KEYSTONE_PASSWORD', 'VMCONSOLE_KEYSTONE_APP_CREDENTIAL_SECRET'] as const;

/**
 * SSM's rule for parameter names (a path of letters, digits and `_.-`, or a plain name), with an
 * optional `:<version>` selector: pinning the version makes a rotation a deploy (README, "Rotating
 * secrets").
 */
const PARAMETER_NAME = /^\/?[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*(:[1-9][0-9]{0,9})?$/;

/** Reads a SecureString, decrypted. */
export type ReadSecret = (name: string) => Promise<string | undefined>;

/**
 * Powertools Parameters over an SSM client (VMCONSOLE_SSM_ENDPOINT points it at a local stand-in).
 * The value is cached for `maxAgeS`: an execution environment reads each parameter once at start
 * and keeps it; only a new environment (a cold start) reads a rotated value.
 */
export function ssmSecretReader(env: NodeJS.ProcessEnv, maxAgeS = Number.MAX_SAFE_INTEGER / 1000): ReadSecret {
  // Loaded on first use: a function without secrets in SSM (local, JWKS) never loads the SSM client.
  const provider = (async () => {
    const [{ SSMClient }, { SSMProvider }] = await Promise.all([import('@aws-sdk/client-ssm'), import('@aws-lambda-powertools/parameters/ssm')]);
    return new SSMProvider({ awsSdkV3Client: new SSMClient(awsClientOptions(setting(env, 'VMCONSOLE_SSM_ENDPOINT'), env)) });
  })();
  return async (name) => await (await provider).get(name, { decrypt: true, maxAge: maxAgeS });
}

/**
 * `env` with every secret setting that names an SSM parameter filled from it. A setting given both
 * ways, a bad name, or a parameter that cannot be read throws with the setting and the parameter
 * named (never a value): the function then refuses to serve, as for any bad auth setting.
 */
export async function resolveSecretSettings(env: NodeJS.ProcessEnv, reader?: ReadSecret): Promise<NodeJS.ProcessEnv> {
  const named = SECRET_SETTINGS.flatMap((name) => {
    const parameter = setting(env, `${name}_PARAMETER`);
    return parameter === undefined ? [] : [{ name, parameter }];
  });
  if (named.length === 0) return env;
  const read = reader ?? ssmSecretReader(env);
  const resolved: NodeJS.ProcessEnv = { ...env };
  await Promise.all(named.map(async ({ name, parameter }) => {
    if (setting(env, name) !== undefined) fail(`set either ${name} or ${name}_PARAMETER, not both`);
    if (!PARAMETER_NAME.test(parameter) || parameter.length > 2048) fail(`${name}_PARAMETER is not an SSM parameter name: ${JSON.stringify(parameter.slice(0, 100))}`);
    let value: string | undefined;
    try {
      value = await read(parameter);
    } catch (err) {
      // Powertools wraps the SDK's error; SSM's own names the refusal (ParameterNotFound,
      // AccessDeniedException, ThrottlingException), never a value.
      const sdk = err instanceof Error && err.cause instanceof Error ? err.cause : err;
      const why = sdk instanceof Error ? `${sdk.name}: ${sdk.message}` : String(sdk);
      throw new Error(`invalid auth configuration: cannot read SSM parameter ${parameter} (${name}_PARAMETER): ${why}`, { cause: err });
    }
    if (!value) fail(`SSM parameter ${parameter} (${name}_PARAMETER) is empty`);
    resolved[name] = value;
  }));
  return resolved;
}

/**
 * `build` applied to the environment with its secrets read, once per execution environment (on the
 * first invocation, not at import). A failure (SSM unreachable, a bad setting) is not kept: the
 * next invocation tries again.
 */
export function oncePerEnvironment<T>(build: (env: NodeJS.ProcessEnv) => T, env: () => NodeJS.ProcessEnv = () => process.env): () => Promise<T> {
  let built: Promise<T> | undefined;
  return () => (built ??= resolveSecretSettings(env()).then(build).catch((err: unknown) => {
    built = undefined;
    throw err;
  }));
}
