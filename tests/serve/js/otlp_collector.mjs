// A real OTLP/HTTP JSON receiver for the OpenTelemetry end-to-end tests:
// OpenTelemetry's own TestCollector (@opentelemetry/contrib-test-utils),
// bound to 127.0.0.1 on an ephemeral port, with a second small HTTP server
// on which the test reads back what it collected.
//
// Usage: node otlp_collector.mjs <node_modules_parent_dir> [--delay-ms N]
//
// Prints one JSON line on stdout once both listen:
//   {"url": "http://127.0.0.1:P", "control": "http://127.0.0.1:Q"}
// `url` is the collector (POST /v1/traces). On `control`:
//   GET  /spans  -> every span so far, each with its resource and instrumentationScope
//   GET  /stats  -> {"requests": POSTs received, "spans": spans kept}
//   POST /clear  -> forget the spans
// --delay-ms N holds every collector response for N ms: a slow receiver.
// It exits when stdin closes (its parent is gone) or on SIGTERM.
import { createRequire } from 'node:module';
import http from 'node:http';
import path from 'node:path';

const args = process.argv.slice(2);
const prefix = args[0];
if (!prefix) {
  console.error('usage: node otlp_collector.mjs <node_modules_parent_dir> [--delay-ms N]');
  process.exit(2);
}
let delayMs = 0;
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--delay-ms') delayMs = Number(args[++i]);
  else {
    console.error(`unknown argument ${args[i]}`);
    process.exit(2);
  }
}

const require = createRequire(path.join(path.resolve(prefix), 'noop.js'));
let TestCollector;
try {
  ({ TestCollector } = require('@opentelemetry/contrib-test-utils'));
} catch (err) {
  console.error(`FAIL: @opentelemetry/contrib-test-utils is not installed under ` +
    `${path.resolve(prefix)}/node_modules (run tests/serve/js/install.cmake): ${err.message}`);
  process.exit(1);
}

const collector = new TestCollector();
let requests = 0;
// TestCollector's own listener, wrapped to count and, for a slow receiver,
// to hold the request before it is read and answered.
const onRequest = collector._onRequest.bind(collector);
collector._http.removeAllListeners('request');
collector._http.on('request', (req, res) => {
  requests++;
  if (delayMs > 0) setTimeout(() => onRequest(req, res), delayMs);
  else onRequest(req, res);
});

function listen(server) {
  // TestCollector.start() would listen on every interface: bind loopback only.
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

const control = http.createServer((req, res) => {
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method === 'GET' && req.url === '/spans') return reply(200, collector.spans);
  if (req.method === 'GET' && req.url === '/stats') {
    return reply(200, { requests, spans: collector.spans.length });
  }
  if (req.method === 'POST' && req.url === '/clear') {
    collector.clear();
    return reply(200, {});
  }
  return reply(404, { message: 'not found' });
});

const collectorPort = await listen(collector._http);
collector.endpointUrl = `http://127.0.0.1:${collectorPort}`;
const controlPort = await listen(control);
console.log(JSON.stringify({ url: collector.endpointUrl, control: `http://127.0.0.1:${controlPort}` }));

function stop() {
  collector._http.closeAllConnections?.();
  collector.close();
  control.closeAllConnections?.();
  control.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
