'use strict';
// The SSM SecureString parameters that hold auth secrets (lib/auth/secrets.ts: a setting's
// `<SETTING>_PARAMETER`), as the resources of AuthSecretsPolicy in serverless.yml: the roles of
// the functions that authenticate may read exactly these, and decrypt them only through SSM.
// deploy/check-auth.cjs has already refused a deployed stage that puts a secret's value in the
// template instead.

const SECRET_SETTINGS = ['VMCONSOLE_JWT_SECRET', 'VMCONSOLE_KEYSTONE_PASSWORD', 'VMCONSOLE_KEYSTONE_APP_CREDENTIAL_SECRET'];
// SSM's rule for names, with an optional `:<version>` selector (lib/auth/secrets.ts); it also
// keeps `${` out of the Fn::Sub below.
const PARAMETER_NAME = /^\/?[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*(:[1-9][0-9]{0,9})?$/;

function parameterNames() {
  return SECRET_SETTINGS.flatMap((setting) => {
    const name = (process.env[`${setting}_PARAMETER`] || '').trim();
    if (!name) return [];
    if (!PARAMETER_NAME.test(name)) throw new Error(`${setting}_PARAMETER is not an SSM parameter name: ${JSON.stringify(name)}`);
    // The policy names the parameter, whatever version is read.
    return [name.replace(/:[0-9]+$/, '')];
  });
}

const arnOf = (name) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${name.startsWith('/') ? '' : '/'}${name}` });

/** 'true' when any secret is in SSM: the policy exists only then (CloudFormation condition). */
module.exports.any = async () => (parameterNames().length > 0 ? 'true' : 'false');

/** The parameters' ARNs (a placeholder when there are none: the policy is not created then). */
module.exports.parameterArns = async () => {
  const names = [...new Set(parameterNames())];
  return names.length > 0 ? names.map(arnOf) : ['arn:aws:ssm:::parameter/none'];
};

/**
 * The KMS key the parameters are encrypted with: VMCONSOLE_SECRETS_KMS_KEY_ARN for a customer
 * managed key, else any key of the account (the condition still limits use to SSM decrypting
 * these parameters; the AWS managed aws/ssm key needs no grant at all).
 */
module.exports.kmsKeys = async () => {
  const key = (process.env.VMCONSOLE_SECRETS_KMS_KEY_ARN || '').trim();
  return [key || { 'Fn::Sub': 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*' }];
};

module.exports.parameterNames = parameterNames;
