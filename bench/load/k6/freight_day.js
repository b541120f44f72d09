/*
 * The freight day (issue 9) for teams that use k6: the same model as the locust scenario
 * (bench/load/locustfile.py), not run in CI. `make loadtest` and `make loadtest-smoke` are locust.
 *
 * What it does. One iteration is one load, from booking to delivered POD: the 112 requests of
 * `model.load_plan()` (bench/load/model.py) with the bodies, headers and expected statuses of
 * bench/load/steps.py, spread evenly over LOAD_SECONDS. Loads arrive at a constant rate of
 * MULTIPLE x 25,000 x 3 / 86,400 a second (the seed's peak hour, 1x = 3,125 loads an hour,
 * ~97 req/s). A load whose step answers anything but the expected status is abandoned, as in
 * locust; a VU whose requests come back late sends the next one at once, so a slow server shows
 * as dropped iterations (loads k6 could not start), not as a hidden queue.
 *
 * How to run. k6 needs what bench/load/run.py runs locust against: a fresh database migrated with
 * production settings (TRUSTED_PROXIES=127.0.0.1/32 so X-Forwarded-For carries each party's own
 * address; OTP_SENDER=http to an SMS sink that answers `GET /codes/<mobile>` with
 * {"code": "123456"}), `rodistaa serve`, `rodistaa worker`, and a population seeded for this run
 * alone: a population another run has used holds rotated refresh tokens, and presenting one
 * revokes the session (the database of a `make loadtest` run is dropped at its end anyway).
 * bench/load/k6/stack.py brings all of that up with run.py's own functions, seeds a population
 * sized for the multiple, prints the command and serves until Ctrl-C:
 *
 *   .venv/bin/python bench/load/k6/stack.py --multiple 1 --load-seconds 60
 *   k6 run -e BASE_URL=http://127.0.0.1:8100 -e POPULATION=/abs/var/load/k6-<time>/population.json \
 *       -e SMS_SINK=http://127.0.0.1:<port> [-e MULTIPLE=1] [-e LOAD_SECONDS=60] \
 *       [-e DURATION=120] [-e WARMUP=60] [-e SUMMARY=/abs/summary.json] bench/load/k6/freight_day.js
 *
 * Seeding by hand instead: `seed.py --shippers 81 --operators 324 --drivers-per-operator 2` is
 * enough for 1x with 60 s loads (the script says what it needs when a population is too small).
 * POPULATION should be absolute: k6 resolves a relative path against this script's folder.
 * DURATION and WARMUP are seconds (or k6 durations such as "5m"); WARMUP defaults to LOAD_SECONDS,
 * the time the first loads take to fill the pipeline, and its requests are left out of the
 * latency and error-rate figures (server errors count from the first request, as in locust).
 *
 * Who uses whose tokens. k6 VUs share nothing, and refresh tokens rotate: presenting a token that
 * was already exchanged revokes the session (auth.service.refresh, REUSE_DETECTED). So every
 * party belongs to exactly one VU. VU v (exec.vu.idInTest, 1..maxVUs) owns the shippers and the
 * operators whose index i in the population has i % maxVUs == v - 1, and the drivers and trucks of
 * those operators. A VU plays one load at a time, so its parties are never in two loads at once;
 * it refreshes and signs in only its own copies, and nothing is shared between VUs but the
 * read-only population (SharedArray). Each load takes the VU's next driver-truck pair in turn; the
 * winner is the operator that owns that truck and the other three bidders are three other
 * operators of the same VU. maxVUs is therefore capped by the population: it needs
 * operators >= 4 x maxVUs and shippers >= maxVUs, and the script stops at start-up with the sizes
 * to seed when the population is too small for the rate.
 *
 * Reading the results: the thresholds are the report's targets (p95 < 200 ms, errors < 0.1 %, no
 * server error, 95 % of the target rate); handleSummary prints a JSON summary (requests,
 * failures, p50/p95/p99 per route) and writes it to SUMMARY as well when that is set.
 */

import { check, sleep } from 'k6';
import { randomBytes } from 'k6/crypto';
import { SharedArray } from 'k6/data';
import encoding from 'k6/encoding';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter } from 'k6/metrics';

// --- the model: mirrors bench/load/model.py and must change with it ----------------------------

const LOADS_PER_DAY = 25000;
const PEAK_HOUR_FACTOR = 3;
const SECONDS_PER_DAY = 86400;
const GPS_BATCHES = 48;
const FIXES_PER_BATCH = 10;
const BIDDERS = 4;

const SHIPPER = 'shipper';
const WINNER = 'winner';
const DRIVER = 'driver';
const BIDDER_ROLES = [WINNER].concat(Array.from({ length: BIDDERS - 1 }, (_, n) => `bidder${n + 1}`));

function step(actor, kind) {
  return { actor, kind };
}

function tripSteps() {
  const shipperReads = {
    6: 'tracking_latest',
    18: 'shipment_detail',
    24: 'tracking_latest',
    30: 'tracking_track',
    36: 'notifications',
    42: 'tracking_latest',
  };
  const steps = [];
  for (let batch = 0; batch < GPS_BATCHES; batch++) {
    if (batch % 2 === 1) steps.push(step(DRIVER, 'refresh'));
    steps.push(step(DRIVER, 'gps_batch'));
    if (batch in shipperReads) steps.push(step(SHIPPER, shipperReads[batch]));
  }
  return steps;
}

/** Every request of one load, in the order the parties send them (model.load_plan). */
export function loadPlan() {
  const steps = [step(SHIPPER, 'refresh'), step(SHIPPER, 'booking_create'), step(SHIPPER, 'booking_detail')];
  BIDDER_ROLES.forEach((bidder, n) => {
    steps.push(step(bidder, 'refresh'));
    steps.push(step(bidder, n % 2 === 0 ? 'open_bookings' : 'booking_detail'));
    steps.push(step(bidder, 'bid_create'));
  });
  steps.push(
    step(WINNER, 'bid_modify'),
    step(SHIPPER, 'booking_bids'),
    step(SHIPPER, 'notifications'),
    step(SHIPPER, 'refresh'),
    step(SHIPPER, 'booking_bids'),
    step(SHIPPER, 'bid_accept'),
    step(WINNER, 'refresh'),
    step(WINNER, 'bid_detail'),
    step(WINNER, 'shipment_detail'),
    step(WINNER, 'shipment_assign'),
    step(SHIPPER, 'shipment_detail'),
    step(SHIPPER, 'driver_approve'),
    step(DRIVER, 'otp_request'),
    step(DRIVER, 'login'),
    step(DRIVER, 'shipment_detail'),
    step(DRIVER, 'shipment_start'),
    step(SHIPPER, 'delivery_otp'),
  );
  steps.push(...tripSteps());
  steps.push(step(DRIVER, 'pod_upload'), step(SHIPPER, 'booking_detail'));
  return steps;
}

// The route template of each kind: the `name` tag, identical to model.KINDS.
export const KINDS = {
  booking_create: 'POST /v1/bookings',
  bid_create: 'POST /v1/bids',
  bid_modify: 'PATCH /v1/bids/{id}',
  bid_accept: 'POST /v1/bids/{id}/accept',
  shipment_assign: 'POST /v1/shipments/{id}/assign',
  driver_approve: 'POST /v1/shipments/{id}/approve-driver',
  shipment_start: 'POST /v1/shipments/{id}/start',
  gps_batch: 'POST /v1/tracking/ping',
  pod_upload: 'POST /v1/pod/upload',
  booking_detail: 'GET /v1/bookings/{id}',
  open_bookings: 'GET /v1/bookings',
  booking_bids: 'GET /v1/bookings/{id}/bids',
  bid_detail: 'GET /v1/bids/{id}',
  shipment_detail: 'GET /v1/shipments/{id}',
  delivery_otp: 'GET /v1/shipments/{id}/otp',
  tracking_latest: 'GET /v1/tracking/{id}/latest',
  tracking_track: 'GET /v1/tracking/{id}',
  notifications: 'GET /v1/notifications',
  refresh: 'POST /v1/auth/refresh',
  otp_request: 'POST /v1/auth/otp',
  login: 'POST /v1/auth/login',
};

// Where a retry after a lost answer could create a second booking, bid, award or POD.
export const IDEMPOTENT_KINDS = new Set(['booking_create', 'bid_create', 'bid_accept', 'pod_upload']);

const PLAN = loadPlan();
export const PEAK_LOADS_PER_SECOND = (LOADS_PER_DAY * PEAK_HOUR_FACTOR) / SECONDS_PER_DAY;

// --- inputs -------------------------------------------------------------------------------------

/** Seconds from "90", "90s", "5m", "1h30m" or "1.5". */
export function seconds(text, fallback) {
  if (text === undefined || text === '') return fallback;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const parts = text.match(/^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/);
  if (!parts) throw new Error(`not a duration: ${text}`);
  return Number(parts[1] || 0) * 3600 + Number(parts[2] || 0) * 60 + Number(parts[3] || 0);
}

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8100').replace(/\/+$/, '');
const SMS_SINK = (__ENV.SMS_SINK || '').replace(/\/+$/, '');
const MULTIPLE = Number(__ENV.MULTIPLE || '1');
const LOAD_SECONDS = seconds(__ENV.LOAD_SECONDS, 60);
const WARMUP_SECONDS = seconds(__ENV.WARMUP, LOAD_SECONDS);
const DURATION_SECONDS = seconds(__ENV.DURATION, WARMUP_SECONDS + 60);
const SUMMARY = __ENV.SUMMARY || '';
const TOKEN_REFRESH_AFTER_S = 12 * 60; // access tokens live 15 minutes
if (!__ENV.POPULATION) throw new Error('POPULATION: the path of the seed\'s population.json');
if (!(MULTIPLE > 0)) throw new Error(`MULTIPLE must be a positive number, not ${__ENV.MULTIPLE}`);
if (!(WARMUP_SECONDS < DURATION_SECONDS)) throw new Error('WARMUP must be shorter than DURATION');

// The population is parsed once and shared read-only by every VU; each VU copies its own parties.
const shippers = new SharedArray('shippers', () => JSON.parse(open(__ENV.POPULATION)).shippers);
const operators = new SharedArray('operators', () => JSON.parse(open(__ENV.POPULATION)).operators);

// --- the arrival model --------------------------------------------------------------------------

export const LOADS_PER_HOUR = Math.round(MULTIPLE * PEAK_LOADS_PER_SECOND * 3600); // 3,125 at 1x
const CONCURRENT_LOADS = (LOADS_PER_HOUR / 3600) * LOAD_SECONDS; // loads in flight when steady

/** VUs for the rate: a load holds its VU for LOAD_SECONDS, with headroom for late answers; at
 * most what the population can give every VU its own parties. */
export function sizeVus(shipperCount, operatorCount) {
  const wanted = Math.ceil(CONCURRENT_LOADS * 1.5) + 2;
  const least = Math.ceil(CONCURRENT_LOADS * 1.1) + 1;
  const possible = Math.min(shipperCount, Math.floor(operatorCount / BIDDERS));
  if (possible < least) {
    throw new Error(
      `the population gives ${possible} VUs their own parties; ${MULTIPLE}x with ${LOAD_SECONDS} s loads ` +
        `needs ${least} (ideally ${wanted}): seed at least --shippers ${wanted} ` +
        `--operators ${BIDDERS * wanted} --drivers-per-operator 2`,
    );
  }
  const maxVUs = Math.min(wanted, possible);
  return { preAllocatedVUs: Math.min(least, maxVUs), maxVUs };
}

const VUS = sizeVus(shippers.length, operators.length);
const EXPECTED_LOADS = (LOADS_PER_HOUR / 3600) * DURATION_SECONDS;

// Per-route figures for handleSummary: k6 keeps a sub-metric only when a threshold names it, so
// every route gets thresholds that always hold. The `kind` tag selects the route (its template
// name holds braces, which a threshold's tag selector cannot).
const routeThresholds = {};
for (const kind of Object.keys(KINDS)) {
  const selector = `{kind:${kind},measured:yes}`;
  routeThresholds[`http_req_duration${selector}`] = ['max>=0'];
  routeThresholds[`http_reqs${selector}`] = ['count>=0'];
  routeThresholds[`http_req_failed${selector}`] = ['rate>=0'];
}

export const options = {
  scenarios: {
    freight_day: {
      executor: 'constant-arrival-rate',
      rate: LOADS_PER_HOUR,
      timeUnit: '1h', // k6 wants a whole rate: 3,125 loads an hour is exact at 1x
      duration: `${DURATION_SECONDS}s`,
      preAllocatedVUs: VUS.preAllocatedVUs,
      maxVUs: VUS.maxVUs,
      gracefulStop: '5s', // as locust's --stop-timeout: loads in flight at the end are cut
    },
  },
  thresholds: Object.assign(
    {
      // The report's targets, on the API's requests after the warm-up (the SMS sink is not the API).
      'http_req_duration{measured:yes}': ['p(95)<200'],
      'http_req_failed{measured:yes}': ['rate<0.001'],
      server_errors: ['count<1'], // 5xx or no answer, warm-up included
      'checks{measured:yes}': ['rate>=0.999'], // a check per step: the expected status
      // 95 % of the target rate: loads k6 could not start because every VU was still busy.
      dropped_iterations: [`count<${Math.max(1, Math.ceil(0.05 * EXPECTED_LOADS))}`],
    },
    routeThresholds,
  ),
  summaryTrendStats: ['avg', 'min', 'med', 'p(50)', 'p(95)', 'p(99)', 'max', 'count'],
};

const serverErrors = new Counter('server_errors');
const EXPECTED = { 200: http.expectedStatuses(200), 201: http.expectedStatuses(201) };

// --- what each step sends: mirrors bench/load/steps.py --------------------------------------------

const CITIES = [
  ['Mumbai', 'Maharashtra', '400001', 19.076, 72.8777],
  ['Pune', 'Maharashtra', '411001', 18.5204, 73.8567],
  ['Nashik', 'Maharashtra', '422001', 19.9975, 73.7898],
  ['Ahmedabad', 'Gujarat', '380001', 23.0225, 72.5714],
  ['Surat', 'Gujarat', '395003', 21.1702, 72.8311],
  ['Indore', 'Madhya Pradesh', '452001', 22.7196, 75.8577],
  ['Hyderabad', 'Telangana', '500001', 17.385, 78.4867],
  ['Bengaluru', 'Karnataka', '560001', 12.9716, 77.5946],
  ['Chennai', 'Tamil Nadu', '600001', 13.0827, 80.2707],
  ['Jaipur', 'Rajasthan', '302001', 26.9124, 75.7873],
  ['Delhi', 'Delhi', '110001', 28.6139, 77.209],
  ['Nagpur', 'Maharashtra', '440001', 21.1458, 79.0882],
];
const GOODS = [
  ['Cement', 'Bags'],
  ['Steel coils', 'Loose'],
  ['Rice', 'Bags'],
  ['Textiles', 'Bales'],
  ['FMCG', 'Cartons'],
];
const POD_BYTES = 150000; // a phone photo of a signed delivery note, as a PDF

const uniform = (low, high) => low + (high - low) * Math.random();
const randint = (low, high) => low + Math.floor(Math.random() * (high - low + 1));
const round = (value, digits) => Math.round(value * 10 ** digits) / 10 ** digits;
const radians = (degrees) => (degrees * Math.PI) / 180;
const modulo = (value, base) => ((value % base) + base) % base; // Python's %, never negative

function uuid4() {
  const bytes = new Uint8Array(randomBytes(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function place(city, street) {
  const [name, state, pincode, lat, lng] = city;
  return {
    address: `${randint(1, 400)} ${street}`,
    city: name,
    state,
    pincode,
    coordinates: { lat: lat + uniform(-0.02, 0.02), lng: lng + uniform(-0.02, 0.02) },
  };
}

export function bookingBody() {
  const first = randint(0, CITIES.length - 1);
  const second = (first + randint(1, CITIES.length - 1)) % CITIES.length; // two distinct cities
  const [goods, packaging] = GOODS[randint(0, GOODS.length - 1)];
  const tonnage = round(uniform(5, 25), 1);
  return {
    pickup: place(CITIES[first], 'Industrial Estate Road'),
    drop: place(CITIES[second], 'Transport Nagar'),
    goods: { type: goods, weight: Math.trunc(tonnage * 1000), packaging },
    tonnage,
  };
}

/** The driver's phone during one trip: fixes moving at a truck's speed along a heading with a
 * receiver's jitter, on the wall clock (the server takes fixes at most 2 minutes ahead). */
export class Trip {
  constructor(lat, lng) {
    this.lat = lat;
    this.lng = lng;
    this.heading = uniform(0, 360);
    this.last = Date.now();
  }

  batch() {
    const now = Date.now();
    const span = Math.max((now - this.last) / 1000, 0.01);
    const fixes = [];
    for (let n = 0; n < FIXES_PER_BATCH; n++) {
      const offset = ((span * (n + 1)) / FIXES_PER_BATCH) * uniform(0.97, 1.0);
      const speed = uniform(38, 58); // km/h
      const stepKm = (speed * (span / FIXES_PER_BATCH)) / 3600;
      const heading = modulo(this.heading + uniform(-4, 4), 360);
      this.lat += (stepKm / 111.0) * Math.cos(radians(heading));
      this.lng += (stepKm / (111.0 * Math.cos(radians(this.lat)))) * Math.sin(radians(heading));
      fixes.push({
        coordinates: { lat: round(this.lat, 7), lng: round(this.lng, 7) },
        speed: round(speed, 1),
        heading: round(heading, 1) % 360,
        accuracy: round(uniform(4, 25), 1),
        timestamp: new Date(this.last + offset * 1000).toISOString(),
      });
    }
    this.last = now;
    return fixes;
  }
}

function bidAmount(state, actor) {
  const { min, max } = state.booking.priceRange;
  const share = actor === WINNER ? 0.1 : uniform(0.3, 1.0); // the winner opens just above the floor
  return round(min + (max - min) * share, 2);
}

function podFile() {
  const head = '%PDF-1.4\n% POD ';
  const tail = '\n%%EOF\n';
  const unique = new Uint8Array(randomBytes(16));
  const noise = new Uint8Array(randomBytes(POD_BYTES));
  const file = new Uint8Array(head.length + unique.length + noise.length + tail.length);
  let at = 0;
  for (const chunk of [head, unique, noise, tail]) {
    if (typeof chunk === 'string') {
      for (let i = 0; i < chunk.length; i++) file[at + i] = chunk.charCodeAt(i);
    } else {
      file.set(chunk, at);
    }
    at += chunk.length;
  }
  return file.buffer;
}

function smsCode(mobile) {
  // The code the server sent to the phone, read back from the sink: not the API, not measured.
  const res = http.get(`${SMS_SINK}/codes/${encodeURIComponent(mobile)}`, {
    tags: { name: 'SMS sink', measured: 'no' },
    responseCallback: EXPECTED[200],
  });
  return res.status === 200 ? String(res.json().code) : '';
}

/** What `kind` sends for `actor`: {method, path, expect, json, query, form, signedIn}. */
export function requestFor(kind, actor, state) {
  const party = state.parties[actor];
  const booking = state.booking.id || '';
  const shipment = state.shipmentId;
  const req = (method, path, extra = {}) => Object.assign({ method, path, expect: 200, signedIn: true }, extra);
  switch (kind) {
    case 'refresh':
      return req('POST', '/v1/auth/refresh', { json: { refreshToken: party.refresh }, signedIn: false });
    case 'otp_request':
      return req('POST', '/v1/auth/otp', { json: { mobile: party.mobile }, signedIn: false });
    case 'login':
      return req('POST', '/v1/auth/login', {
        json: { mobile: party.mobile, otp: smsCode(party.mobile), deviceId: party.device },
        signedIn: false,
      });
    case 'booking_create':
      return req('POST', '/v1/bookings', { expect: 201, json: bookingBody() });
    case 'booking_detail':
      return req('GET', `/v1/bookings/${booking}`);
    case 'open_bookings':
      return req('GET', '/v1/bookings', { query: { pageSize: 20 } });
    case 'bid_create': {
      const body = { bookingId: booking, amount: bidAmount(state, actor) };
      if (actor === WINNER) body.truckId = state.truckId;
      return req('POST', '/v1/bids', { expect: 201, json: body });
    }
    case 'bid_modify':
      return req('PATCH', `/v1/bids/${state.bids[actor].id}`, { json: { amount: state.booking.priceRange.min } });
    case 'booking_bids':
      return req('GET', `/v1/bookings/${booking}/bids`);
    case 'notifications':
      return req('GET', '/v1/notifications', { query: { pageSize: 20 } });
    case 'bid_accept': {
      const winning = state.bids[WINNER];
      return req('POST', `/v1/bids/${winning.id}/accept`, { json: { expectedAmount: winning.amount } });
    }
    case 'bid_detail':
      return req('GET', `/v1/bids/${state.bids[actor].id}`);
    case 'shipment_detail':
      return req('GET', `/v1/shipments/${shipment}`);
    case 'shipment_assign':
      return req('POST', `/v1/shipments/${shipment}/assign`, {
        json: { driverId: state.parties[DRIVER].id, truckId: state.truckId },
      });
    case 'driver_approve':
      return req('POST', `/v1/shipments/${shipment}/approve-driver`);
    case 'shipment_start':
      return req('POST', `/v1/shipments/${shipment}/start`);
    case 'delivery_otp':
      return req('GET', `/v1/shipments/${shipment}/otp`);
    case 'gps_batch':
      if (!state.trip) throw new Error('the trip starts before the first batch');
      return req('POST', '/v1/tracking/ping', { json: { shipmentId: shipment, pings: state.trip.batch() } });
    case 'tracking_latest':
      return req('GET', `/v1/tracking/${shipment}/latest`);
    case 'tracking_track':
      return req('GET', `/v1/tracking/${shipment}`, { query: { limit: 500 } });
    case 'pod_upload':
      return req('POST', '/v1/pod/upload', {
        expect: 201,
        form: { shipmentId: shipment, otp: state.otp, file: http.file(podFile(), 'pod.pdf', 'application/pdf') },
      });
    default:
      throw new Error(`no request for step kind ${kind}`);
  }
}

/** The party's headers: its client address as a trusted proxy passes it on, the driver's device,
 * the bearer token, and an Idempotency-Key where the apps send one. */
export function headersFor(party, request, kind) {
  const values = { 'X-Forwarded-For': party.ip };
  if (party.device) values['X-Device-Id'] = party.device;
  if (request.signedIn) values.Authorization = `Bearer ${party.token}`;
  if (IDEMPOTENT_KINDS.has(kind)) values['Idempotency-Key'] = uuid4();
  if (request.json !== undefined) values['Content-Type'] = 'application/json';
  return values;
}

/** Keep what later steps need from a step's answer (steps.absorb). */
export function absorb(kind, actor, state, body) {
  const party = state.parties[actor];
  if (kind === 'refresh' || kind === 'login') {
    party.token = body.token;
    party.refresh = body.refreshToken;
  } else if (kind === 'booking_create') {
    state.booking = body;
  } else if (kind === 'bid_create' || kind === 'bid_modify') {
    state.bids[actor] = body;
  } else if (kind === 'bid_accept') {
    state.shipmentId = body.shipment.id;
  } else if (kind === 'shipment_start') {
    const pickup = state.booking.pickup.coordinates;
    state.trip = new Trip(pickup.lat, pickup.lng);
  } else if (kind === 'delivery_otp') {
    state.otp = body.otp;
  }
}

// --- this VU's parties ---------------------------------------------------------------------------

/** When the party's access token was issued (its `iat`), in seconds. */
function issuedAt(party) {
  try {
    return JSON.parse(encoding.b64decode(party.token.split('.')[1], 'rawurl', 's')).iat;
  } catch (_) {
    return 0; // unreadable: refresh it
  }
}

let own = null;

/** The parties this VU owns (see the header): its own mutable copies, taken on first use. */
export function ownParties(vuId, maxVUs) {
  if (own && own.vuId === vuId) return own;
  const mine = (index) => index % maxVUs === vuId - 1;
  const copy = (party) => JSON.parse(JSON.stringify(party));
  const myShippers = [];
  for (let i = 0; i < shippers.length; i++) if (mine(i)) myShippers.push(copy(shippers[i]));
  const myOperators = [];
  for (let i = 0; i < operators.length; i++) if (mine(i)) myOperators.push(copy(operators[i]));
  const units = []; // each operator's first pair, then each one's second, ...: winners alternate
  const deepest = Math.max(0, ...myOperators.map((o) => o.fleet.length));
  for (let depth = 0; depth < deepest; depth++) {
    for (const operator of myOperators) {
      if (depth < operator.fleet.length) units.push({ operator, ...operator.fleet[depth] });
    }
  }
  if (myShippers.length < 1 || myOperators.length < BIDDERS || units.length < 1) {
    throw new Error(`VU ${vuId} of ${maxVUs} owns too few parties: seed a larger population`);
  }
  own = { vuId, shippers: myShippers, operators: myOperators, units, nextShipper: 0, nextUnit: 0 };
  return own;
}

/** The load's parties: the VU's next shipper and driver-truck pair, the truck's owner as the
 * winner, and three other operators of this VU as the other bidders. */
export function partiesForLoad(vu) {
  const shipper = vu.shippers[vu.nextShipper++ % vu.shippers.length];
  const unit = vu.units[vu.nextUnit++ % vu.units.length];
  const others = vu.operators.filter((o) => o !== unit.operator);
  for (let i = others.length - 1; i > 0; i--) {
    const j = randint(0, i);
    [others[i], others[j]] = [others[j], others[i]];
  }
  const parties = { [SHIPPER]: shipper, [DRIVER]: unit.driver };
  [unit.operator, ...others.slice(0, BIDDERS - 1)].forEach((operator, n) => {
    parties[BIDDER_ROLES[n]] = operator;
  });
  return { parties, truckId: unit.truck };
}

// --- one load ------------------------------------------------------------------------------------

function query(params) {
  if (!params) return '';
  return `?${Object.keys(params)
    .map((key) => `${encodeURIComponent(key)}=${encodeURIComponent(params[key])}`)
    .join('&')}`;
}

function measured() {
  return exec.instance.currentTestRunDuration >= WARMUP_SECONDS * 1000 ? 'yes' : 'warmup';
}

/** Send one step; false when its answer was not the expected one (the load is abandoned). */
export function send(kind, actor, state) {
  const party = state.parties[actor];
  if (kind !== 'refresh' && kind !== 'login' && Date.now() / 1000 - issuedAt(party) > TOKEN_REFRESH_AFTER_S) {
    if (!send('refresh', actor, state)) return false; // an app refreshes an expiring token on resume
  }
  const request = requestFor(kind, actor, state);
  const name = KINDS[kind];
  const tags = { name, kind, measured: measured() };
  let body = null;
  if (request.json !== undefined) body = JSON.stringify(request.json);
  else if (request.form !== undefined) body = request.form; // multipart, for the http.file
  const res = http.request(request.method, `${BASE_URL}${request.path}${query(request.query)}`, body, {
    headers: headersFor(party, request, kind),
    tags,
    responseCallback: EXPECTED[request.expect],
  });
  if (res.status === 0 || res.status >= 500) serverErrors.add(1, tags);
  const ok = check(res, { [`${name} answers ${request.expect}`]: (r) => r.status === request.expect }, tags);
  if (!ok) return false;
  absorb(kind, actor, state, res.body ? res.json() : null);
  return true;
}

export default function freightDay() {
  const vu = ownParties(exec.vu.idInTest, VUS.maxVUs);
  const { parties, truckId } = partiesForLoad(vu);
  const state = { parties, truckId, booking: {}, bids: {}, shipmentId: '', otp: '', trip: null };
  const gap = LOAD_SECONDS / PLAN.length;
  const started = Date.now();
  for (let n = 0; n < PLAN.length; n++) {
    const pause = (started + n * gap * 1000 - Date.now()) / 1000;
    if (pause > 0) sleep(pause);
    if (!send(PLAN[n].kind, PLAN[n].actor, state)) return; // recorded as the failing request
  }
}

// --- the summary ---------------------------------------------------------------------------------

function values(data, metric) {
  return (data.metrics[metric] && data.metrics[metric].values) || {};
}

export function handleSummary(data) {
  const selector = (kind) => `{kind:${kind},measured:yes}`;
  const routes = {};
  for (const kind of Object.keys(KINDS)) {
    const latency = values(data, `http_req_duration${selector(kind)}`);
    routes[KINDS[kind]] = {
      requests: values(data, `http_reqs${selector(kind)}`).count || 0,
      failures: values(data, `http_req_failed${selector(kind)}`).passes || 0,
      p50: latency['p(50)'] || 0,
      p95: latency['p(95)'] || 0,
      p99: latency['p(99)'] || 0,
    };
  }
  const all = values(data, 'http_req_duration{measured:yes}');
  const failed = values(data, 'http_req_failed{measured:yes}');
  const measuredSeconds = Math.max(data.state.testRunDurationMs / 1000 - WARMUP_SECONDS, 1e-9);
  const requests = all.count || 0;
  const thresholds = {};
  for (const [metric, entry] of Object.entries(data.metrics)) {
    for (const [rule, result] of Object.entries(entry.thresholds || {})) {
      if (!metric.includes('{kind:')) thresholds[`${metric}: ${rule}`] = result.ok;
    }
  }
  const summary = {
    multiple: MULTIPLE,
    loadsPerHour: LOADS_PER_HOUR,
    requestsPerLoad: PLAN.length,
    targetRate: Math.round(((LOADS_PER_HOUR * PLAN.length) / 3600) * 10) / 10,
    loadSeconds: LOAD_SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    durationSeconds: DURATION_SECONDS,
    vus: VUS,
    requests,
    failures: failed.passes || 0,
    errorRate: requests ? (failed.passes || 0) / requests : 0,
    serverErrorsWholeRun: values(data, 'server_errors').count || 0,
    droppedLoads: values(data, 'dropped_iterations').count || 0,
    rate: Math.round((requests / measuredSeconds) * 10) / 10,
    p50: all['p(50)'] || 0,
    p95: all['p(95)'] || 0,
    p99: all['p(99)'] || 0,
    thresholds,
    routes,
  };
  const text = `${JSON.stringify(summary, null, 2)}\n`;
  const out = { stdout: text };
  if (SUMMARY) out[SUMMARY] = text;
  return out;
}
