'use strict';
// The metric math of serverless.yml's alarms over many metrics: a sum of each function's (or
// table's) metric, as CloudWatch alarms take a math expression over at most 10 metrics. The
// function lists name every function of serverless.yml once (test/deploy/template.test.ts checks).

/** Behind the HTTP API: a failure is a tenant's 5xx. */
const API_FUNCTIONS = ['ServerAction', 'CreateRemoteConsole', 'ShowServer', 'ListServers', 'ListServices', 'DiscoverVersions', 'RouteNotFound', 'ListDiagnoses', 'RequestDiagnosis', 'GetScreenshot'];
/** Queue- and schedule-driven: a failure is retried, then dead-lettered or skipped. */
const BACKGROUND_FUNCTIONS = ['RouteConsoleRequests', 'DiagnoseConsole', 'MeasureHostHealth', 'SweepReplyQueues'];
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

module.exports.apiErrors = async () => sum('API function errors', ofFunctions('Errors', API_FUNCTIONS));
module.exports.backgroundErrors = async () => sum('background function errors', ofFunctions('Errors', BACKGROUND_FUNCTIONS));
module.exports.apiThrottles = async () => sum('API function throttles', ofFunctions('Throttles', API_FUNCTIONS));
module.exports.backgroundThrottles = async () => sum('background function throttles', ofFunctions('Throttles', BACKGROUND_FUNCTIONS));
module.exports.tableThrottles = async () => sum('DynamoDB throttle events', TABLES.flatMap((table) => ['ReadThrottleEvents', 'WriteThrottleEvents'].map((name) => ({ namespace: 'AWS/DynamoDB', name, dimension: 'TableName', ref: table }))));

module.exports.API_FUNCTIONS = API_FUNCTIONS;
module.exports.BACKGROUND_FUNCTIONS = BACKGROUND_FUNCTIONS;
