import { InvalidArgumentError } from 'commander';
import { CliUsageError } from './io.ts';

/**
 * The little of vmconsole's own API the `logs` and `consoles` commands need: where it is
 * (VMCONSOLE_URL, the API's base URL, e.g. http://127.0.0.1:4000 under `npm start`) and the token
 * (VMCONSOLE_TOKEN, sent as X-Auth-Token). When the CLI's shared configuration (OS_* variables,
 * clouds.yaml) lands, these commands take their endpoint and token from it instead.
 */
export interface ConsoleApi {
  get(path: string, query: Record<string, string>, signal?: AbortSignal): Promise<{ status: number; json: any }>;
}

/** An /vmconsole/v1 error, with the API's stable code. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function consoleApiFromEnv(env: NodeJS.ProcessEnv): ConsoleApi {
  const base = env.VMCONSOLE_URL?.trim().replace(/\/+$/, '');
  const token = env.VMCONSOLE_TOKEN?.trim();
  if (!base) throw new CliUsageError('set VMCONSOLE_URL to the API\'s base URL (npm start prints it, e.g. http://127.0.0.1:4000)');
  if (!/^https?:\/\//.test(base)) throw new CliUsageError(`VMCONSOLE_URL must be an http(s) URL, got "${base.slice(0, 80)}"`);
  if (!token) throw new CliUsageError('set VMCONSOLE_TOKEN to your token (user:project under npm start)');
  return {
    async get(path, query, signal) {
      const url = `${base}/vmconsole/v1${path}?${new URLSearchParams(query).toString()}`;
      const res = await fetch(url, { headers: { 'X-Auth-Token': token, Accept: 'application/json' }, ...(signal && { signal }) });
      const text = await res.text();
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        throw new ApiError(res.status, 'BadResponse', `the API answered ${res.status} with something that is not JSON`);
      }
      if (res.status >= 400) throw new ApiError(res.status, json?.error?.code ?? 'Unknown', json?.error?.message ?? `HTTP ${res.status}`);
      return { status: res.status, json };
    },
  };
}

/** A server id as the API takes it (names are resolved by the CLI's shared server lookup once it lands). */
export function serverIdArgument(value: string): string {
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(value)) {
    throw new InvalidArgumentError(`"${value.slice(0, 80)}" is not a server id (a UUID)`);
  }
  return value.toLowerCase();
}
