'use strict';
// serverless.yml resolves VMCONSOLE_AUTH_MODE through this file: `osls package`/`deploy` of a
// stage other than `local` stops here, with the variable to set, instead of deploying functions
// that refuse to start (every request a bare 500). The rules are the start-up rules of
// lib/auth/config.ts (readAuthConfig), reduced to "is anything configured at all"; the functions
// still check the values themselves (lengths, URLs, lifetimes) when they start.
//
// noauth trusts whatever `user:project` a caller sends: in a deployed stage it is refused unless
// VMCONSOLE_ALLOW_NOAUTH=true says the operator means it (an isolated test account, say).

const set = (name) => Boolean(process.env[name] && process.env[name].trim());
// A secret given as its SSM SecureString parameter (lib/auth/secrets.ts).
const secret = (name) => set(name) || set(`${name}_PARAMETER`);

// A deployed stage's template holds no secret value: each is the name of an SSM SecureString
// (`<SETTING>_PARAMETER`), read by the functions that authenticate when they start.
const SECRET_SETTINGS = ['VMCONSOLE_JWT_SECRET', 'VMCONSOLE_KEYSTONE_PASSWORD', 'VMCONSOLE_KEYSTONE_APP_CREDENTIAL_SECRET'];

function plainSecret() {
  const plain = SECRET_SETTINGS.find((name) => set(name));
  return plain && `${plain} would put the secret itself in the template and every function's configuration; store it as an SSM SecureString and set ${plain}_PARAMETER to its name (README, "Rotating secrets")`;
}

function problem(stage) {
  const mode = (process.env.VMCONSOLE_AUTH_MODE || '').trim() || 'jwt';
  if (stage === 'local') return { mode };
  const plain = plainSecret();
  if (plain) return { mode, error: plain };
  if (mode === 'noauth') {
    if (process.env.VMCONSOLE_ALLOW_NOAUTH === 'true') return { mode };
    return { mode, error: 'VMCONSOLE_AUTH_MODE=noauth accepts any caller as any project; set VMCONSOLE_ALLOW_NOAUTH=true if that is really meant' };
  }
  if (mode === 'jwt') {
    if (!secret('VMCONSOLE_JWT_SECRET') && !set('VMCONSOLE_JWKS_URL')) {
      return { mode, error: 'jwt mode needs VMCONSOLE_JWT_SECRET_PARAMETER (an SSM SecureString holding the HS256 secret, >= 32 bytes) or VMCONSOLE_JWKS_URL' };
    }
    const profile = (process.env.VMCONSOLE_JWT_PROFILE || '').trim();
    if (profile !== 'keystone-jws' && (!set('VMCONSOLE_JWT_ISSUER') || !set('VMCONSOLE_JWT_AUDIENCE'))) {
      return { mode, error: 'a deployed jwt mode needs VMCONSOLE_JWT_ISSUER and VMCONSOLE_JWT_AUDIENCE' };
    }
    return { mode };
  }
  if (mode === 'keystone') {
    if (!set('VMCONSOLE_KEYSTONE_URL')) return { mode, error: 'keystone mode needs VMCONSOLE_KEYSTONE_URL' };
    const appCredential = set('VMCONSOLE_KEYSTONE_APP_CREDENTIAL_ID') && secret('VMCONSOLE_KEYSTONE_APP_CREDENTIAL_SECRET');
    const password = set('VMCONSOLE_KEYSTONE_USERNAME') && secret('VMCONSOLE_KEYSTONE_PASSWORD') && set('VMCONSOLE_KEYSTONE_PROJECT_NAME');
    if (!appCredential && !password) {
      return { mode, error: 'keystone mode needs VMCONSOLE_KEYSTONE_APP_CREDENTIAL_ID and _SECRET_PARAMETER, or VMCONSOLE_KEYSTONE_USERNAME, _PASSWORD_PARAMETER and _PROJECT_NAME (secrets as SSM SecureString names)' };
    }
    return { mode };
  }
  return { mode, error: `VMCONSOLE_AUTH_MODE must be "noauth", "jwt" or "keystone", got ${JSON.stringify(mode)}` };
}

// Commands that build or change functions; `osls info`, `remove`, `logs` need no secrets.
const BUILDS = new Set(['package', 'deploy']);

module.exports.mode = async ({ resolveVariable }) => {
  const stage = await resolveVariable('sls:stage');
  const { mode, error } = problem(stage);
  if (error && BUILDS.has(process.argv[2])) {
    throw new Error(`no usable authentication for stage "${stage}": ${error} (README, "Authentication"; only stage "local" may go without)`);
  }
  return mode;
};

module.exports.problem = problem;
