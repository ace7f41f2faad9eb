'use strict';
// The metric math of serverless.yml's alarms over many metrics: a sum of each function's (or
// table's) metric, as CloudWatch alarms take a math expression over at most 10 metrics. The
// function lists name every function of serverless.yml once (test/deploy/template.test.ts checks).

/**
 * Behind the HTTP API, a failure is a tenant's 5xx: those that ask a compute host (each waiting
 * request holds its slot up to the host's deadline) and those that read the directory alone, apart,
 * so neither alarm sums more than 10.
 */
const HOST_API_FUNCTIONS = ['ServerAction', 'CreateRemoteConsole', 'GetScreenshot', 'ReadConsole', 'ListConsoles', 'RequestDiagnosis'];
const DIRECTORY_API_FUNCTIONS = ['ShowServer', 'ListServers', 'ListServices', 'DiscoverVersions', 'RouteNotFound', 'ListDiagnoses'];
const API_FUNCTIONS = [...HOST_API_FUNCTIONS, ...DIRECTORY_API_FUNCTIONS];
/** Queue- and schedule-driven: a failure is retried, then dead-lettered or skipped. */
const BACKGROUND_FUNCTIONS = ['RouteConsoleRequests', 'DiagnoseConsole', 'MeasureHostHealth', 'SweepReplyQueues', 'RegisterInventory'];
const TABLES = ['DirectoryTable', 'DiagnosesTable', 'ConsoleTokensTable'];

const PERIOD_S = 60;

function sum(label, metrics) {
  if (metrics.length > 10) throw new Error(`an alarm's metric math takes at most 10 metrics, ${label} has ${metrics.length}`);
  return [
    { Id: 'total', Label: label, Expression: 'SUM(METRICS())', ReturnData: true },
    ...metrics.map(({ namespace, name, dimension, ref }, i) => ({
      Id: `m${i}`,
      ReturnData: false,
      MetricStat: { Metric: { Namespace: namespace, MetricName: name, Dimensions: [{ Name: dimension, Value: { Ref: ref } }] }, Period: PERIOD_S, Stat: 'Sum' },
    })),
  ];
}

const ofFunctions = (name, functions) => functions.map((fn) => ({ namespace: 'AWS/Lambda', name, dimension: 'FunctionName', ref: `${fn}LambdaFunction` }));

module.exports.hostApiErrors = async () => sum('errors of API functions that ask a host', ofFunctions('Errors', HOST_API_FUNCTIONS));
module.exports.directoryApiErrors = async () => sum('errors of API functions that read the directory', ofFunctions('Errors', DIRECTORY_API_FUNCTIONS));
module.exports.backgroundErrors = async () => sum('background function errors', ofFunctions('Errors', BACKGROUND_FUNCTIONS));
module.exports.hostApiThrottles = async () => sum('throttles of API functions that ask a host', ofFunctions('Throttles', HOST_API_FUNCTIONS));
module.exports.directoryApiThrottles = async () => sum('throttles of API functions that read the directory', ofFunctions('Throttles', DIRECTORY_API_FUNCTIONS));
module.exports.backgroundThrottles = async () => sum('background function throttles', ofFunctions('Throttles', BACKGROUND_FUNCTIONS));
module.exports.tableThrottles = async () => sum('DynamoDB throttle events', TABLES.flatMap((table) => ['ReadThrottleEvents', 'WriteThrottleEvents'].map((name) => ({ namespace: 'AWS/DynamoDB', name, dimension: 'TableName', ref: table }))));

module.exports.API_FUNCTIONS = API_FUNCTIONS;
module.exports.BACKGROUND_FUNCTIONS = BACKGROUND_FUNCTIONS;
