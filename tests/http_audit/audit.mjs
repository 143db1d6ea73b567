// Runs the graphql-http server audits (GraphQL over HTTP conformance) against a running server
// and prints one JSON object per audit and line: {"id", "name", "status", "reason"?, "code"?}.
//
//   node audit.mjs http://127.0.0.1:8000/graphql
//
// NRD_AUDIT_TOKEN, when set, is sent as a bearer token with every request: the audits read
// `__type`, which only hotline roles may. Audits run one after another, each bounded in time.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}
const token = process.env.NRD_AUDIT_TOKEN;
const TIMEOUT_MS = 10_000;

function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
}

for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    line.code = result.response?.status;
  }
  console.log(JSON.stringify(line));
}
