#!/usr/bin/env node
// Runs the ACS reference bundle with jexl 2.3 over the benchmark corpus (see docs/benchmarks.md).
//
//   node bench/acs/node/bench.js [--corpus FILE] [--bundle FILE] [--warmup N] [--passes N]
//                                [--out FILE] [--summaries FILE]
//
// * The bundle YAML is read from the path recorded in the corpus (the shared reference bundle),
//   every condition is compiled once with jexl.compile, and rules are indexed by event type from
//   their `event.type == 'x'` / `event.type in [...]` guards, in priority order (as the Python
//   engine does), so each event evaluates only its own rules.
// * Functions are JavaScript ports of the project's: now() (pinned to the event's `at`),
//   distance() (haversine), textContainsPII(), priceEstimator.lowerBound(); the data-backed ones
//   answer from the event's prefetched facts, keyed exactly like Python's fact_key:
//   name + "(" + canonical JSON of the arguments without the outer brackets + ")".
// * Dotted function names: jexl 2.3's parser turns `db.count.trucksByOperator(x)` into a call of
//   a function named `trucksByOperator` (the `db.count.` prefix is silently dropped) and it cannot
//   call functions stored in the context. The harness therefore rewrites only the call syntax,
//   outside string literals, of registered dotted names: `db.count.trucksByOperator(` becomes
//   `db$count$trucksByOperator(`, registered with jexl.addFunction under that name. Everything
//   else in the condition is compiled as written. After compiling, every FunctionCall in every AST
//   is checked to name a registered function.
// * A rule matches when evalSync() returns exactly `true`; a throw makes it errored (a critical
//   rule that errors fails closed, as in the Python engine). Decision: REJECT if a matched rule
//   has rejectRequest (or a critical rule errored), else THROTTLE if one has throttle, else ALLOW.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const yaml = require('js-yaml');
const { Jexl } = require('jexl');

const JEXL_VERSION = require('jexl/package.json').version;
const YAML_VERSION = require('js-yaml/package.json').version;

// ---------------------------------------------------------------------------------------------
// Functions (ports of src/rodistaa/acs/lang/functions.py and pii.py)

const EARTH_RADIUS_M = 6371008.8;
const DEG_TO_RAD = Math.PI / 180; // CPython's math.radians multiplies by pi/180
const MAX_AMOUNT = 1e15;

let current = null; // the event being evaluated: { at, facts }

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function step(value, key) {
  return isPlainObject(value) ? value[key] : undefined;
}

function coordinate(point, key, limit) {
  const v = step(point, key);
  return typeof v === 'number' && Math.abs(v) <= limit ? v : null; // NaN fails the comparison
}

function distance(a, b) {
  const c = [coordinate(a, 'lat', 90), coordinate(a, 'lng', 180), coordinate(b, 'lat', 90), coordinate(b, 'lng', 180)];
  if (c.some((x) => x === null)) return null;
  const [lat1, lng1, lat2, lng2] = c.map((x) => x * DEG_TO_RAD);
  const h = Math.sin((lat2 - lat1) / 2) ** 2 + Math.cos(lat1) * Math.cos(lat2) * Math.sin((lng2 - lng1) / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1.0, Math.sqrt(h)));
}

function isAmount(v) {
  return typeof v === 'number' && v >= 0 && v < MAX_AMOUNT;
}

// float(Decimal(repr(x)) * Decimal('0.9')).quantize(Decimal('0.01'), ROUND_HALF_UP)), exactly.
// JS String(x) and Python repr(x) are both the shortest round-trip digits (only the notation
// differs), so the decimal value is the same; the arithmetic is done on BigInt digits.
function ninetyPercentToCents(x) {
  const [mantissa, expText] = String(x).split('e');
  const [intPart, fracPart = ''] = mantissa.split('.');
  let digits = BigInt(intPart + fracPart) * 9n;
  let scale = fracPart.length - (expText ? parseInt(expText, 10) : 0) + 1; // value = digits * 10^-scale
  if (scale > 2) {
    const div = 10n ** BigInt(scale - 2);
    const rem = digits % div;
    digits = digits / div + (rem * 2n >= div ? 1n : 0n);
  } else if (scale < 2) {
    digits *= 10n ** BigInt(2 - scale);
  }
  const text = digits.toString().padStart(3, '0');
  return parseFloat(`${text.slice(0, -2)}.${text.slice(-2)}`);
}

function priceLowerBound(booking) {
  const explicit = step(step(booking, 'priceRange'), 'min');
  if (isAmount(explicit)) return explicit;
  const expected = step(booking, 'expectedPrice');
  if (!isAmount(expected)) return null;
  return ninetyPercentToCents(expected);
}

// textContainsPII. Python's `\b` and `\w` are Unicode-aware; JS's `\b` is ASCII-only, so word
// boundaries are written as lookarounds over [\p{L}\p{N}_].
// Python's [A-Za-z] under IGNORECASE also matches U+0130/U+0131 (and U+017F/U+212A, which JS's
// `iu` case folding already covers), so those two are listed explicitly.
const W = String.raw`[\p{L}\p{N}_]`;
const SEP = String.raw`[\s.\-]{0,3}`;
const MOBILE = new RegExp(
  String.raw`(?<![0-9])(?:\(?(?:\+|00)?91\)?` + SEP + '|0' + SEP + String.raw`)?[6-9](?:` + SEP + String.raw`[0-9]){9}(?![0-9])`,
  'u',
);
const AADHAAR = /(?<![0-9])[0-9]{4}[ \-]?[0-9]{4}[ \-]?[0-9]{4}(?![0-9])/u;
const DOT = String.raw`\s{0,3}(?:\.|\(dot\)|\[dot\])\s{0,3}`;
const EMAIL = new RegExp(
  String.raw`[A-Za-z0-9\u0130\u0131._%+\-]{1,64}\s{0,3}(?:@|\(at\)|\[at\])\s{0,3}[A-Za-z0-9\u0130\u0131\-]{1,63}(?:` +
    DOT + String.raw`[A-Za-z0-9\u0130\u0131\-]{1,63}){0,8}` + DOT + String.raw`[A-Za-z\u0130\u0131]{2,24}(?!` + W + ')',
  'iu',
);
const PAN = new RegExp(`(?<!${W})[A-Z\\u0130\\u0131]{5}[0-9]{4}[A-Z\\u0130\\u0131](?!${W})`, 'iu');
const NON_ASCII = /[^\x00-\x7f]/;
const UNICODE_DIGIT = /\p{Nd}/gu;
const IS_DIGIT = /\p{Nd}/u;

function digitValue(ch) {
  // Unicode encodes decimal digits in contiguous runs starting at 0 (some runs abut, e.g. the
  // mathematical digits), so the value is the distance from the start of the run, modulo 10.
  let cp = ch.codePointAt(0);
  let start = cp;
  while (start > 0 && IS_DIGIT.test(String.fromCodePoint(start - 1))) start -= 1;
  return String((cp - start) % 10);
}

function asciiDigits(text) {
  return NON_ASCII.test(text) ? text.replace(UNICODE_DIGIT, digitValue) : text;
}

function countAsciiDigits(text) {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

function textContainsPII(text) {
  if (typeof text !== 'string' || text.length === 0) return false;
  const normalised = asciiDigits(text);
  const digits = countAsciiDigits(normalised);
  if (digits >= 10 && (MOBILE.test(normalised) || AADHAAR.test(normalised))) return true;
  if (digits >= 4 && PAN.test(normalised)) return true;
  if (!normalised.includes('@')) {
    const lowered = normalised.toLowerCase();
    if (!lowered.includes('(at)') && !lowered.includes('[at]')) return false;
  }
  return EMAIL.test(normalised);
}

// fact_key: Python writes canonical JSON (sorted keys, no spaces, non-ASCII kept, integral
// floats as ints -- which is how JS prints them anyway); a missing value is null.
function canonicalJson(value) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('argument is not plain data: non-finite number');
    return JSON.stringify(value);
  }
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  throw new Error(`argument is not plain data: ${typeof value}`);
}

function factKey(name, args) {
  return `${name}(${args.map(canonicalJson).join(',')})`;
}

const hasOwn = Object.prototype.hasOwnProperty;

function dataFunction(name) {
  return (...args) => {
    const key = factKey(name, args);
    if (!hasOwn.call(current.facts, key)) throw new Error(`no prefetched fact for ${key}`);
    return current.facts[key];
  };
}

// The registry of src/rodistaa/acs/lang/functions.py: name -> implementation.
const FUNCTIONS = {
  now: () => current.at,
  distance,
  textContainsPII,
  'priceEstimator.lowerBound': priceLowerBound,
};
for (const name of [
  'db.count.trucksByOperator',
  'db.count.driverAccountsByDevice',
  'overlappingAcceptExists',
  'rate.limitExceeded',
  'operator.maintenanceWindowActive',
]) {
  FUNCTIONS[name] = dataFunction(name);
}

function jexlName(name) {
  return name.replace(/\./g, '$');
}

// ---------------------------------------------------------------------------------------------
// Bundle

const CALL_RE = /(?<![\w$.])([A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)+)(?=\s*\()/g;

// Rewrite `a.b.c(` to `a$b$c(` for registered dotted function names, outside string literals.
function rewriteDottedCalls(source) {
  let out = '';
  const rewritten = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i];
    if (ch === '"' || ch === "'") {
      let j = i + 1;
      while (j < source.length && source[j] !== ch) j += source[j] === '\\' ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < source.length && source[j] !== '"' && source[j] !== "'") j++;
    out += source.slice(i, j).replace(CALL_RE, (match, dotted) => {
      const name = dotted.replace(/\s+/g, '');
      if (!hasOwn.call(FUNCTIONS, name)) throw new Error(`unknown function '${name}'`);
      rewritten.push(name);
      return jexlName(name);
    });
    i = j;
  }
  return { source: out, rewritten };
}

function walk(node, visit) {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    node.forEach((n) => walk(n, visit));
    return;
  }
  visit(node);
  for (const [key, child] of Object.entries(node)) {
    if (key !== '_parent') walk(child, visit);
  }
}

function isEventType(node) {
  return (
    node && node.type === 'Identifier' && node.value === 'type' && !node.relative &&
    node.from && node.from.type === 'Identifier' && node.from.value === 'event' && !node.from.from
  );
}

function flatten(node, op) {
  if (node && node.type === 'BinaryExpression' && node.operator === op) {
    return [...flatten(node.left, op), ...flatten(node.right, op)];
  }
  return [node];
}

// Event types a condition can match, from its guards (null: any), like analysis.event_type_guard.
function eventTypeGuard(ast) {
  const branches = flatten(ast, '||');
  if (branches.length > 1) {
    const union = new Set();
    for (const branch of branches) {
      const guard = eventTypeGuard(branch);
      if (guard === null) return null;
      guard.forEach((t) => union.add(t));
    }
    return union;
  }
  let result = null;
  for (const c of flatten(ast, '&&')) {
    let types = null;
    if (c && c.type === 'BinaryExpression' && isEventType(c.left)) {
      if (c.operator === '==' && c.right.type === 'Literal' && typeof c.right.value === 'string') {
        types = new Set([c.right.value]);
      } else if (
        c.operator === 'in' && c.right.type === 'ArrayLiteral' &&
        c.right.value.every((v) => v.type === 'Literal' && typeof v.value === 'string')
      ) {
        types = new Set(c.right.value.map((v) => v.value));
      }
    }
    if (types !== null) result = result === null ? types : new Set([...result].filter((t) => types.has(t)));
  }
  return result;
}

function loadBundle(bundlePath) {
  const jexl = new Jexl();
  for (const [name, fn] of Object.entries(FUNCTIONS)) jexl.addFunction(jexlName(name), fn);
  const registered = new Set(Object.keys(FUNCTIONS).map(jexlName));
  const raw = yaml.load(fs.readFileSync(bundlePath, 'utf8'));
  const rules = [];
  const nativeDotted = {};
  const rewrites = {};
  for (const r of raw) {
    if (r.enabled === false) continue;
    const { source, rewritten } = rewriteDottedCalls(r.condition);
    const expr = jexl.compile(source);
    const ast = expr._getAst();
    walk(ast, (node) => {
      if (node.type === 'FunctionCall' && !registered.has(node.name)) {
        throw new Error(`${r.id}: jexl parsed a call of unregistered function '${node.name}'`);
      }
    });
    if (rewritten.length) {
      rewrites[r.id] = source;
      // What stock jexl makes of the original text (documented, not used).
      walk(new Jexl().compile(r.condition)._getAst(), (node) => {
        if (node.type === 'FunctionCall') nativeDotted[`${r.id}`] = [...(nativeDotted[r.id] || []), node.name];
      });
    }
    const actions = (r.action || []).map((a) => Object.keys(a)[0]);
    const guard = Array.isArray(r.events) ? new Set(r.events) : eventTypeGuard(ast);
    rules.push({
      id: r.id,
      priority: Number.isInteger(r.priority) ? r.priority : 100,
      critical: r.severity === 'critical',
      shadow: r.mode === 'shadow',
      rejects: actions.includes('rejectRequest'),
      throttles: actions.includes('throttle'),
      events: guard,
      expr,
    });
  }
  rules.sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const byType = new Map();
  const forAll = rules.filter((r) => r.events === null);
  const types = new Set(rules.flatMap((r) => (r.events ? [...r.events] : [])));
  for (const t of types) byType.set(t, rules.filter((r) => r.events === null || r.events.has(t)));
  return { rules, rulesFor: (t) => byType.get(t) || forAll, nativeDotted, rewrites };
}

// ---------------------------------------------------------------------------------------------
// Events and decisions

function isoAt(ms) {
  // datetime.isoformat() as the Python engine writes event.at (not read by the bundle).
  const iso = new Date(ms).toISOString();
  return ms % 1000 === 0 ? iso.replace('.000Z', 'Z') : iso.replace('Z', '000Z');
}

function prepare(corpus, bundle) {
  const config = corpus.systemConfig;
  return corpus.events.map((e) => ({
    id: e.id,
    type: e.type,
    at: e.at,
    facts: e.facts,
    rules: bundle.rulesFor(e.type),
    // build_context: the provider's names, then event, ctx and system on top.
    context: {
      ...e.names,
      event: { type: e.type, id: e.id, at: isoAt(e.at), payload: { ...(e.payload || {}) } },
      ctx: { ...e.ctx },
      system: { config: { ...config } },
    },
  }));
}

function decideSync(ev) {
  current = ev;
  const matched = [];
  const errored = [];
  for (const rule of ev.rules) {
    let value;
    try {
      value = rule.expr.evalSync(ev.context);
    } catch (err) {
      errored.push(rule);
      continue;
    }
    if (value === true && !rule.shadow) matched.push(rule);
  }
  return verdict(ev, matched, errored);
}

async function decideAsync(ev) {
  const matched = [];
  const errored = [];
  for (const rule of ev.rules) {
    current = ev; // other events cannot interleave: events are awaited one at a time
    let value;
    try {
      value = await rule.expr.eval(ev.context);
    } catch (err) {
      errored.push(rule);
      continue;
    }
    if (value === true && !rule.shadow) matched.push(rule);
  }
  return verdict(ev, matched, errored);
}

function verdict(ev, matched, errored) {
  let outcome = 'ALLOW';
  if (matched.some((r) => r.rejects) || errored.some((r) => r.critical && !r.shadow)) outcome = 'REJECT';
  else if (matched.some((r) => r.throttles)) outcome = 'THROTTLE';
  return { outcome, matched, errored };
}

function summaryLine(ev, d) {
  return `${ev.id}\t${d.outcome}\t${d.matched.map((r) => r.id).join(',')}\t${d.errored.map((r) => r.id).join(',')}`;
}

// ---------------------------------------------------------------------------------------------
// Timing

function percentile(sorted, q) {
  const rank = Math.max(1, Math.min(sorted.length, Math.ceil((sorted.length * q) / 100)));
  return sorted[rank - 1] / 1000;
}

const round2 = (x) => Math.round(x * 100) / 100;

async function measure(run, events, warmup, passes, isAsync) {
  const pass = async () => {
    const t0 = process.hrtime.bigint();
    if (isAsync) for (const ev of events) await run(ev);
    else for (const ev of events) run(ev);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  for (let i = 0; i < warmup; i++) await pass();
  const seconds = [];
  for (let i = 0; i < passes; i++) seconds.push(await pass());
  const samples = new Float64Array(events.length * passes);
  let k = 0;
  for (let i = 0; i < passes; i++) {
    for (const ev of events) {
      const t0 = process.hrtime.bigint();
      if (isAsync) await run(ev);
      else run(ev);
      samples[k++] = Number(process.hrtime.bigint() - t0);
    }
  }
  samples.sort();
  const sortedSeconds = [...seconds].sort((a, b) => a - b);
  const median = sortedSeconds[Math.floor(sortedSeconds.length / 2)];
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return {
    eventsPerSec: Math.round(events.length / median),
    eventsPerSecBest: Math.round(events.length / sortedSeconds[0]),
    passSeconds: seconds.map((s) => Math.round(s * 1e4) / 1e4),
    p50Us: round2(percentile(samples, 50)),
    p90Us: round2(percentile(samples, 90)),
    p99Us: round2(percentile(samples, 99)),
    p999Us: round2(percentile(samples, 99.9)),
    maxUs: round2(samples[samples.length - 1] / 1000),
    meanUs: round2(mean / 1000),
    samples: samples.length,
  };
}

// ---------------------------------------------------------------------------------------------

function parseArgs(argv) {
  const here = path.resolve(__dirname, '..');
  const args = {
    corpus: path.join(here, 'corpus.json'),
    bundle: null,
    warmup: Number(process.env.ACS_BENCH_WARMUP || 3),
    passes: Number(process.env.ACS_BENCH_PASSES || 5),
    asyncPasses: Number(process.env.ACS_BENCH_ASYNC_PASSES || 2),
    out: null,
    summaries: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in args)) throw new Error(`unknown option ${argv[i]}`);
    args[key] = typeof args[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const corpus = JSON.parse(fs.readFileSync(args.corpus, 'utf8'));
  const bundle = loadBundle(args.bundle || corpus.bundle);
  const events = prepare(corpus, bundle);

  const lines = events.map((ev) => summaryLine(ev, decideSync(ev)));
  const checksum = crypto.createHash('sha256').update(lines.join('\n')).digest('hex');
  const asyncLines = [];
  for (const ev of events) asyncLines.push(summaryLine(ev, await decideAsync(ev)));
  if (asyncLines.join('\n') !== lines.join('\n')) console.error('warning: async eval decided differently from evalSync');

  const figures = {
    conditions: await measure(decideSync, events, args.warmup, args.passes, false),
    'conditions-async': await measure(decideAsync, events, 1, args.asyncPasses, true),
  };
  const index = {};
  for (const t of new Set(events.map((e) => e.type))) index[t] = bundle.rulesFor(t).map((r) => r.id);
  const result = {
    engine: 'jexl',
    implementation: `jexl ${JEXL_VERSION} (evalSync) on Node ${process.versions.node}, js-yaml ${YAML_VERSION}`,
    events: events.length,
    warmupPasses: args.warmup,
    timedPasses: args.passes,
    checksum,
    outcomes: Object.fromEntries(['ALLOW', 'REJECT', 'THROTTLE'].map((o) => [o, lines.filter((l) => l.split('\t')[1] === o).length])),
    errored: lines.filter((l) => l.split('\t')[3] !== '').length,
    figures,
    dottedCalls: {
      how: 'call syntax of registered dotted names rewritten a.b.c( -> a$b$c( outside string literals; functions registered under the rewritten names',
      rewrittenConditions: bundle.rewrites,
      stockJexlParsesCallsAs: bundle.nativeDotted,
    },
    index,
  };
  if (args.summaries) fs.writeFileSync(args.summaries, lines.join('\n') + '\n');
  const text = JSON.stringify(result, null, 2);
  if (args.out) fs.writeFileSync(args.out, text + '\n');
  console.log(text);
}

module.exports = { canonicalJson, factKey, textContainsPII, priceLowerBound, distance, rewriteDottedCalls, eventTypeGuard };

if (require.main === module) {
  main().catch((err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  });
}
