#!/usr/bin/env node
//! A healthcode gRPC client in Node.js: looks up document numbers with GetCode (one id) or
//! GetCodes (several) and prints each person's colour and the reasons, laid out like
//! `healthcode query`. The contract is read from the repository's proto/ at run time by
//! @grpc/proto-loader, so nothing is generated.
//!
//!   node client.js [--server HOST:PORT] [--tokens FILE | --token T] [--as-of DAY] ID [ID ...]
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.join(__dirname, '..', '..', 'proto');
const PROTO_FILE = 'healthcode/v1/healthcode.proto';
// Largest answer accepted: a full GetCodes answer with findings is about 400 kB per 1,000 ids.
const MAX_RECEIVE = 64 << 20;

const USAGE = `usage: node client.js [--server HOST:PORT] [--tokens FILE | --token T] [--as-of DAY] ID [ID ...]

Looks up health codes on a healthcode server: GetCode for one id, GetCodes for several.
  --server HOST:PORT  the server (default 127.0.0.1:50051)
  --token T           bearer token (default: $HEALTHCODE_TOKEN, else --tokens)
  --tokens FILE       tokens file \`ROLE NAME TOKEN\`; its first query token is sent
                      (default: the demo's, $HEALTHCODE_HOME/demo/tokens)
  --as-of DAY         ask as of this day (YYYY-MM-DD) instead of the server's today`;

function fail(message) {
  process.stderr.write(`healthcode-client: ${message}\n`);
  process.exit(2);
}

/** The demo's tokens file: `demo/tokens` in the healthcode home. */
function defaultTokensFile() {
  const home = process.env.HEALTHCODE_HOME || path.join(os.homedir(), '.local', 'share', 'healthcode');
  return path.join(home, 'demo', 'tokens');
}

/** The first token of `role` in a tokens file of lines `ROLE NAME TOKEN` (`#` comments). */
function firstToken(file, role = 'query') {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    fail(`--tokens ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].split('#')[0].trim();
    if (!line) continue;
    const fields = line.split(/\s+/);
    if (fields.length !== 3) fail(`${file}:${n + 1}: expected \`ROLE NAME TOKEN\``);
    if (fields[0] === role) return fields[2];
  }
  fail(`${file}: no \`${role}\` token`);
}

/** A document number with all but its first 6 and last 4 characters hidden, as the server and
 * `healthcode query` show it (wholly hidden when too short). */
function maskId(text) {
  const chars = Array.from(text);
  if (chars.length < 6 + 4 + 4) return '*'.repeat(chars.length);
  return chars.slice(0, 6).join('') + '*'.repeat(chars.length - 10) + chars.slice(-4).join('');
}

const COLOURS = {
  COLOR_GREEN: 'GREEN  (no anomaly found)',
  COLOR_YELLOW: 'YELLOW (home quarantine)',
  COLOR_RED: 'RED    (central quarantine)',
};

/** The human-readable form of one CodeResponse, line for line as `healthcode query` prints it. */
function render(idNumber, r) {
  const lines = [
    `person:  ${maskId(idNumber.trim())}${r.known ? '' : ' (no record in any feed)'}`,
    `as of:   ${r.as_of} (index generation ${r.index_generation}, data as of ${r.data_as_of})`,
    `colour:  ${COLOURS[r.color] || 'unknown'}`,
    `travel:  ${r.travel_allowed ? 'allowed' : 'NOT allowed'}`,
    r.findings.length === 0 ? 'findings: none' : 'findings (strongest first):',
  ];
  for (const f of r.findings) {
    const reason = typeof f.reason === 'string' ? f.reason.replace(/^REASON_/, '') : 'UNKNOWN';
    let line = `  - ${reason}`;
    if (f.region_code) line += ` in ${f.region_name} (${f.region_code})`;
    if (f.risk_area_code) line += `, risk area ${f.risk_area_code}`;
    line += `, ${f.day}`;
    if (f.phone_tail) line += `, phone ending ${f.phone_tail}`;
    line += f.blocks_travel ? ', blocks travel' : ', popup';
    lines.push(line);
  }
  return lines.join('\n') + '\n';
}

/** The `healthcode.v1` package, loaded from the .proto. */
function loadContract() {
  const file = path.join(PROTO_ROOT, PROTO_FILE);
  if (!fs.existsSync(file)) fail(`${file}: no such file (the gRPC contract)`);
  const definition = protoLoader.loadSync(PROTO_FILE, {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition).healthcode.v1;
}

function main() {
  let args;
  try {
    args = parseArgs({
      allowPositionals: true,
      options: {
        server: { type: 'string', default: '127.0.0.1:50051' },
        token: { type: 'string' },
        tokens: { type: 'string' },
        'as-of': { type: 'string', default: '' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    fail(`${e.message}\n${USAGE}`);
  }
  const { values, positionals: ids } = args;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (ids.length === 0) fail(`no document number given\n${USAGE}`);
  const token =
    values.token ||
    (values.tokens ? undefined : process.env.HEALTHCODE_TOKEN) ||
    firstToken(values.tokens || defaultTokensFile());

  const v1 = loadContract();
  const client = new v1.HealthCode(values.server, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': MAX_RECEIVE,
  });
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  const deadline = () => new Date(Date.now() + 60_000);
  const onError = (err) => {
    const code = Object.keys(grpc.status).find((k) => grpc.status[k] === err.code) || err.code;
    process.stderr.write(`healthcode-client: ${values.server}: ${code}: ${err.details}\n`);
    process.exitCode = 1;
  };

  if (ids.length === 1) {
    client.GetCode({ id_number: ids[0], as_of: values['as-of'] }, metadata, { deadline: deadline() }, (err, r) => {
      client.close();
      if (err) return onError(err);
      process.stdout.write(render(ids[0], r));
    });
    return;
  }
  client.GetCodes({ id_numbers: ids, as_of: values['as-of'] }, metadata, { deadline: deadline() }, (err, batch) => {
    client.close();
    if (err) return onError(err);
    const out = batch.results.map((result, i) => {
      if (result.valid) return render(ids[i], result.code);
      process.exitCode = 1;
      return `person:  ${maskId(ids[i].trim())}\ninvalid: ${result.error}\n`;
    });
    process.stdout.write(out.join('\n'));
  });
}

if (require.main === module) main();

module.exports = { render, maskId, firstToken };
