// FLORA's official TypeScript SDK against a FLORA-compatible API (Terrarium's built-in backend).
//
//   node contract.mjs <base-url> <sk_ key> <schemas.json> [webhook-secret]
//
// Runs FLORA's recipe "Generate without a Technique" (image models, a project, generations
// polled until completed), then calls every one of the SDK's methods once, validates each answer
// against the JSON Schema generated from the SDK's own response type, and prints one JSON line
// per method: {method, status: ok|http_error|schema_violation|not_implemented|not_called, detail}.
// Then the checks that are not single methods, one line each with `method: "check:<name>"`:
// auto-pagination, the SDK's error classes, `assets.upload`, and a webhook the backend delivered
// verified with `webhooks.unwrap`. The first line (`method: "sdk:methods"`) lists the methods
// found on the SDK's client, so the caller can see that every one was called.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import FLORA, {
  APIError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  RateLimitError,
  WebhookVerificationError,
} from '@flora-ai/flora';

const [baseURL, apiKey, schemasPath, webhookSecret] = process.argv.slice(2);
if (!baseURL || !apiKey || !schemasPath) {
  console.error('usage: node contract.mjs <base-url> <sk_ key> <schemas.json> [webhook-secret]');
  process.exit(2);
}
const POLL_S = Number(process.env.CONTRACT_POLL_S || 20);
const RATE_LIMITED_BASE = process.env.CONTRACT_RATE_LIMITED_BASE; // an instance with a tiny limit
const RATE_LIMITED_KEY = process.env.CONTRACT_RATE_LIMITED_KEY;

// Retries would hide the status the backend gave, and make a 409 or a 429 slow.
const client = new FLORA({ apiKey, baseURL, maxRetries: 0, timeout: 30_000, logLevel: 'off' });

const schemas = JSON.parse(readFileSync(schemasPath, 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validators = Object.fromEntries(Object.entries(schemas).map(([m, s]) => [m, ajv.compile(s)]));

const emit = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const short = (v, n = 300) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s && s.length > n ? s.slice(0, n - 3) + '...' : s;
};

// ---------------------------------------------------------------- the SDK's own method list

/** Every method of every resource on the client, e.g. `workspaces.projects.canvas.applyChangeset`. */
function sdkMethods(resource, prefix = '') {
  const names = [];
  for (const [key, value] of Object.entries(resource)) {
    if (key.startsWith('_') || !value || typeof value !== 'object' || !('_client' in value)) continue;
    const path = prefix ? `${prefix}.${key}` : key;
    let proto = Object.getPrototypeOf(value);
    const own = new Set();
    while (proto && proto.constructor.name !== 'APIResource' && proto !== Object.prototype) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        if (name !== 'constructor' && typeof value[name] === 'function') own.add(name);
      }
      proto = Object.getPrototypeOf(proto);
    }
    for (const name of [...own].sort()) names.push(`${path}.${name}`);
    names.push(...sdkMethods(value, path));
  }
  return names;
}

// Helpers built on other methods, checked on their own below rather than as API methods.
const HELPERS = new Set(['assets.upload']);
const SDK_METHODS = sdkMethods(client).filter((m) => !HELPERS.has(m));
emit({ method: 'sdk:methods', status: 'ok', detail: SDK_METHODS });

// ---------------------------------------------------------------- one call, classified

const results = new Map(); // method -> status

function classifyError(err) {
  if (!(err instanceof APIError) || err.status === undefined) {
    return { status: 'http_error', detail: `${err?.constructor?.name}: ${err?.message}` };
  }
  const body = err.error && typeof err.error === 'object' ? err.error : {};
  const e = body.error && typeof body.error === 'object' ? body.error : body;
  const text = `${err.status} ${err.constructor.name} ${e.code ?? ''}: ${e.message ?? short(body)}`;
  // A route the backend does not have: FastAPI's 405, or the backend's "No route" 404.
  if (err.status === 405 || (err.status === 404 && /^No route /.test(e.message ?? ''))) {
    return { status: 'not_implemented', detail: text };
  }
  return { status: 'http_error', detail: text };
}

function violations(method, body) {
  const validate = validators[method];
  if (!validate) return [`no schema generated for ${method}`];
  if (validate(body)) return [];
  return validate.errors.map((e) => {
    const where = e.instancePath || '/';
    if (e.keyword === 'additionalProperties') return `${where}: extra field '${e.params.additionalProperty}'`;
    if (e.keyword === 'required') return `${where}: missing '${e.params.missingProperty}'`;
    const got = e.keyword === 'type' || e.keyword === 'enum' ? ` (got ${short(valueAt(body, where), 60)})` : '';
    return `${where}: ${e.message}${got}`;
  });
}

function valueAt(body, pointer) {
  let v = body;
  for (const part of pointer.split('/').slice(1)) v = v?.[part.replaceAll('~1', '/').replaceAll('~0', '~')];
  return v;
}

/** Runs `fn` (which answers the raw JSON body), validates, records and prints one line. */
async function call(method, fn) {
  let line;
  let body;
  try {
    body = await fn();
    const found = violations(method, body);
    line = found.length
      ? { method, status: 'schema_violation', detail: dedupe(found) }
      : { method, status: 'ok', detail: short(body, 200) };
  } catch (err) {
    line = { method, ...classifyError(err) };
    body = undefined;
  }
  results.set(method, line.status);
  emit(line);
  return body;
}

/** Array paths as `[]`, so one broken field of every item reads as one line. */
function dedupe(found) {
  const seen = new Map();
  for (const f of found) {
    const key = f.replace(/\/\d+(?=\/|:)/g, '/[]').replace(/ \(got .*\)$/, '');
    if (!seen.has(key)) seen.set(key, f.replace(/\/\d+(?=\/|:)/g, '/[]'));
  }
  return [...seen.values()];
}

/** The raw JSON of a list page (the SDK keeps it on the page object). */
const pageBody = async (promise) => (await promise).body;

function check(name, status, detail) {
  emit({ method: `check:${name}`, status, detail });
}


// ---------------------------------------------------------------- FLORA's recipe, then the rest

const PNG_1x1 = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

async function main() {
  // Generate without a Technique: image models, a project in the key's workspace, generations,
  // each polled with generations.retrieve until completed.
  const workspaces = await call('workspaces.list', () => client.workspaces.list());
  const ws = workspaces?.workspaces?.[0]?.workspace_id;
  if (!ws) throw new Error('workspaces.list gave no workspace: the recipe cannot start');

  const models = await call('models.list', () => client.models.list({ type: 'image' }));
  const model = models?.models?.[0]?.model_id;

  const project = await call('projects.create', () =>
    client.projects.create({ name: 'SDK contract', workspace_id: ws }),
  );
  const prj = project?.project_id ?? 'prj_missing';

  const genArgs = { type: 'image', prompt: 'a red fox in the snow', workspace_id: ws, project_id: prj, model };
  const gen = await call('generations.create', () => client.generations.create(genArgs));
  const gen2 = await call('runs.startGeneration', () =>
    client.runs.startGeneration({ ...genArgs, prompt: 'a red fox at dusk' }),
  );

  let run = null;
  await call('generations.retrieve', async () => {
    const runId = gen?.run_id ?? 'run_missing';
    const deadline = Date.now() + POLL_S * 1000;
    for (;;) {
      run = await client.generations.retrieve(runId);
      if (run.status === 'completed' || run.status === 'failed' || Date.now() > deadline) break;
      await sleep(200);
    }
    if (run.status !== 'completed') throw new Error(`run ${runId} ended ${run.status}: ${short(run)}`);
    return run;
  });
  for (const other of [gen2?.run_id].filter(Boolean)) {
    for (let i = 0; i < POLL_S * 5; i++) {
      const r = await client.generations.retrieve(other).catch(() => null);
      if (!r || r.status === 'completed' || r.status === 'failed') break;
      await sleep(200);
    }
  }
  const imageUrl = run?.outputs?.find((o) => o.type === 'imageUrl')?.url ?? 'https://example.com/fox.png';

  await call('generations.list', () => pageBody(client.generations.list({ project_id: prj, limit: 10 })));
  await call('projects.list', () => pageBody(client.projects.list({ workspace_id: ws, limit: 10 })));
  await call('projects.retrieve', () => client.projects.retrieve(prj));
  await call('projects.listNodes', () => pageBody(client.projects.listNodes(prj, { limit: 10 })));

  // Techniques: prefer one whose required inputs are all text (no media to fetch).
  const techniques = await call('techniques.list', () => pageBody(client.techniques.list({ workspace_id: ws })));
  const listed = techniques?.techniques ?? [];
  const textOnly = (t) => (t.inputs ?? []).every((i) => i.optional || i.type === 'text');
  const technique = listed.find(textOnly) ?? listed[0];
  const techId = technique?.technique_id ?? 'tech_missing';
  const tech = (await call('techniques.retrieve', () => client.techniques.retrieve(techId))) ?? technique;
  const inputValue = (i) => (i.type === 'text' ? 'a red fox' : imageUrl);
  const techInputs = (tech?.inputs ?? []).filter((i) => !i.optional);
  const techRun = await call('techniques.runs.create', () =>
    client.techniques.runs.create(techId, {
      mode: 'async',
      inputs: techInputs.map((i) => ({ id: i.id, type: i.type, value: inputValue(i) })),
    }),
  );
  await call('techniques.runs.retrieve', () =>
    client.techniques.runs.retrieve(techRun?.run_id ?? 'run_missing', { techniqueId: techId }),
  );
  await call('techniques.runs.list', () =>
    pageBody(client.techniques.runs.list({ workspace_id: ws, limit: 10 })),
  );
  await call('runs.startTechnique', () =>
    client.runs.startTechnique({
      technique_id: techId,
      workspace_id: ws,
      inputs: Object.fromEntries(techInputs.map((i) => [i.id, inputValue(i)])),
    }),
  );

  await call('feedback.record', () =>
    client.feedback.record({
      kind: 'bug',
      summary: 'SDK contract',
      detail: 'Recorded by the SDK contract test.',
      workspace_id: ws,
      project_id: prj,
    }),
  );

  // Assets: a signed-url reservation filled with real bytes, then completed; a second one never
  // uploaded, completed (so it fails) and retried.
  const asset = await call('assets.create', () =>
    client.assets.create({ source: 'signed-url', workspace_id: ws, file_name: 'fox.png', content_type: 'image/png' }),
  );
  const uploadUrl = asset?.upload?.url ?? asset?.upload_url;
  if (uploadUrl) {
    const headers = { 'content-type': 'image/png', ...(asset?.upload?.headers ?? {}) };
    await fetch(uploadUrl, { method: asset?.upload?.method ?? 'PUT', headers, body: PNG_1x1 }).catch(() => null);
  }
  const assetId = asset?.asset_id ?? 'asset_missing';
  await call('assets.complete', () => client.assets.complete(assetId));
  await call('assets.retrieve', () => client.assets.retrieve(assetId));
  await call('assets.list', () => pageBody(client.assets.list({ workspace_id: ws, limit: 10 })));
  let failedId = 'asset_missing';
  if (asset) {
    const other = await client.assets
      .create({ source: 'signed-url', workspace_id: ws, file_name: 'never.png', content_type: 'image/png' })
      .catch(() => null);
    if (other) {
      failedId = other.asset_id;
      await client.assets.complete(failedId).catch(() => null);
    }
  }
  await call('assets.retry', () => client.assets.retry(failedId));
  await call('projects.assets.attachAsset', () => client.projects.assets.attachAsset(assetId, { projectId: prj }));

  // The project canvas (Mermaid, add-only) and its action nodes.
  await call('projects.canvas.retrieve', () => client.projects.canvas.retrieve(prj));
  await call('projects.canvas.update', () =>
    client.projects.canvas.update(prj, {
      diagram: 'graph LR\n  fox["A red fox (Image)"]\n  snow["The fox in snow (Image)"]\n  fox --> snow',
    }),
  );
  const actionNode = await call('projects.actions.create', () =>
    client.projects.actions.create(prj, { action_id: 'resize-image-browser' }),
  );
  await call('projects.actions.run', () =>
    client.projects.actions.run(actionNode?.node_id ?? 'node_missing', { projectId: prj }),
  );

  const actions = await call('actions.list', () => client.actions.list());
  const actionId =
    actions?.actions?.find((a) => a.action_id === 'resize-image-browser')?.action_id ??
    actions?.actions?.[0]?.action_id ??
    'resize-image-browser';
  await call('actions.retrieve', () => client.actions.retrieve(actionId));
  await call('actions.run', () =>
    client.actions.run({
      action_id: 'resize-image-browser',
      inputs: [{ type: 'image', url: imageUrl }],
      project_id: prj,
      workspace_id: ws,
    }),
  );

  // Workspace-scoped projects, canvas definition and changesets.
  const wsProject = await call('workspaces.projects.create', () =>
    client.workspaces.projects.create(ws, { name: 'SDK contract (workspace route)' }),
  );
  const prj2 = wsProject?.project_id ?? prj;
  const graph = await call('workspaces.projects.graph', () =>
    client.workspaces.projects.graph(prj, { workspaceId: ws }),
  );
  const definition = await call('workspaces.projects.canvas.retrieveDefinition', () =>
    client.workspaces.projects.canvas.retrieveDefinition(prj, { workspaceId: ws }),
  );
  const changeset = await call('workspaces.projects.canvas.applyChangeset', () =>
    client.workspaces.projects.canvas.applyChangeset(prj, {
      workspaceId: ws,
      add: [{ ref: 'fox2', type: 'image', prompt: 'a red fox, watercolor', model }],
    }),
  );
  await call('workspaces.projects.canvas.replaceDefinition', () =>
    client.workspaces.projects.canvas.replaceDefinition(prj2, {
      workspaceId: ws,
      definition: definition?.definition ?? {
        nodes: [{ id: 'n1', type: 'textBlock', data: { text: 'a red fox' }, position: { x: 0, y: 0 } }],
        edges: [],
        node_inputs: {},
        node_outputs: {},
      },
    }),
  );
  const created = changeset?.created?.fox2;
  const nodeId = created?.id ?? created?.node_id ?? graph?.nodes?.[0]?.id ?? 'n1';
  await call('workspaces.projects.runNodes', () =>
    client.workspaces.projects.runNodes(prj, { workspaceId: ws, node_ids: [nodeId] }),
  );
  await call('workspaces.folders.createProject', () =>
    // FLORA's API makes no project folders (they are made in the app): pass one of the
    // workspace's as CONTRACT_FOLDER_ID; the built-in backend makes each workspace with
    // `fld_<the workspace id's characters>`.
    client.workspaces.folders.createProject(process.env.CONTRACT_FOLDER_ID || `fld_${ws.slice(3)}`, {
      workspaceId: ws,
      name: 'SDK contract (in a folder)',
    }),
  );

  // The library.
  const folder = await call('workspaces.library.folders.create', () =>
    client.workspaces.library.folders.create(ws, { name: 'SDK contract' }),
  );
  const folderId = folder?.folder_id ?? 'libfolder_missing';
  await call('workspaces.library.folders.addItem', () =>
    client.workspaces.library.folders.addItem(folderId, { workspaceId: ws, type: 'text', text: 'a red fox' }),
  );
  await call('workspaces.library.folders.delete', () =>
    client.workspaces.library.folders.delete(folderId, { workspaceId: ws }),
  );

  for (const m of SDK_METHODS) {
    if (!results.has(m)) emit({ method: m, status: 'not_called', detail: 'the contract script never called it' });
  }

  // ------------------------------------------------------------ checks beyond single methods
  await checkPagination(ws, prj, genArgs);
  await checkErrors(ws, prj, genArgs);
  await checkUpload(ws);
  await checkWebhook(genArgs);
}

async function checkPagination(ws, prj, genArgs) {
  if (results.get('generations.list') === 'not_implemented') {
    return check('pagination', 'not_implemented', 'generations.list is missing');
  }
  try {
    // Three generations in a fresh project, walked one per page with `for await`.
    const p = await client.projects.create({ name: 'SDK contract paging', workspace_id: ws });
    const started = [];
    for (const prompt of ['fox one', 'fox two', 'fox three']) {
      started.push((await client.generations.create({ ...genArgs, prompt, project_id: p.project_id })).run_id);
    }
    const first = await client.generations.list({ project_id: p.project_id, limit: 1 });
    const seen = [];
    for await (const g of client.generations.list({ project_id: p.project_id, limit: 1 })) seen.push(g.run_id);
    const projects = [];
    for await (const item of client.projects.list({ workspace_id: ws, limit: 1 })) projects.push(item.project_id);
    const problems = [];
    if (first.generations.length !== 1) problems.push(`limit 1 gave ${first.generations.length} items`);
    if (!first.hasNextPage()) problems.push('page 1 of 3 has no next page');
    if (new Set(seen).size !== seen.length) problems.push(`duplicates across pages: ${seen}`);
    if ([...started].sort().join() !== [...seen].sort().join()) problems.push(`walked ${seen}, started ${started}`);
    if (new Set(projects).size !== projects.length || !projects.includes(prj) || !projects.includes(p.project_id)) {
      problems.push(`projects walked one per page: ${projects}`);
    }
    check('pagination', problems.length ? 'fail' : 'ok', problems.length ? problems : `${seen.length} generations, ${projects.length} projects, one per page`);
  } catch (err) {
    check('pagination', 'fail', `${err.constructor.name}: ${err.message}`);
  }
}

async function expectError(name, Cls, fn) {
  try {
    const body = await fn();
    check(name, 'fail', `expected ${Cls.name}, got an answer: ${short(body, 200)}`);
  } catch (err) {
    const e = err?.error?.error ?? {};
    if (err instanceof Cls) {
      const envelope = typeof e.code === 'string' && typeof e.message === 'string';
      check(name, envelope ? 'ok' : 'fail', envelope ? `${Cls.name} ${e.code}: ${e.message}` : `${Cls.name} without FLORA's error envelope: ${short(err.error)}`);
    } else {
      check(name, 'fail', `expected ${Cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
    }
  }
}

async function checkErrors(ws, prj, genArgs) {
  await expectError('errors.400', BadRequestError, () => client.generations.create({ ...genArgs, type: 't2i' }));
  const wrong = new FLORA({ apiKey: 'sk_test_not_a_real_key', baseURL, maxRetries: 0, logLevel: 'off' });
  await expectError('errors.401', AuthenticationError, () => wrong.workspaces.list());
  await expectError('errors.404', NotFoundError, () => client.projects.retrieve('prj_doesnotexist'));
  const key = { headers: { 'Idempotency-Key': `contract-${Date.now()}` } };
  await expectError('errors.409', ConflictError, async () => {
    await client.generations.create({ ...genArgs, prompt: 'a fox, once' }, key);
    return client.generations.create({ ...genArgs, prompt: 'a fox, once' }, key);
  });
  if (RATE_LIMITED_BASE && RATE_LIMITED_KEY) {
    const limited = new FLORA({ apiKey: RATE_LIMITED_KEY, baseURL: RATE_LIMITED_BASE, maxRetries: 0, logLevel: 'off' });
    await expectError('errors.429', RateLimitError, async () => {
      for (let i = 0; i < 20; i++) await limited.workspaces.list();
      return 'twenty answers without a 429';
    });
  }
}

async function checkUpload(ws) {
  const needed = ['assets.create', 'assets.complete', 'assets.retrieve'];
  if (needed.some((m) => results.get(m) === 'not_implemented')) {
    return check('assets.upload', 'not_implemented', `needs ${needed.join(', ')}`);
  }
  try {
    const ready = await client.assets.upload(PNG_1x1, { workspace_id: ws, file_name: 'fox.png', content_type: 'image/png' });
    const found = violations('assets.retrieve', ready);
    const problems = [...found];
    if (ready.status !== 'ready') problems.push(`status ${ready.status}`);
    if (ready.url) {
      const got = await fetch(ready.url).catch((e) => ({ ok: false, status: e.message }));
      const bytes = got.ok ? Buffer.from(await got.arrayBuffer()) : null;
      if (!bytes || !bytes.equals(PNG_1x1)) problems.push(`GET ${ready.url}: ${got.status}, not the uploaded bytes`);
    } else problems.push('no url');
    check('assets.upload', problems.length ? 'fail' : 'ok', problems.length ? problems : `${ready.asset_id} ready`);
  } catch (err) {
    check('assets.upload', 'fail', `${err.constructor.name}: ${err.message}`);
  }
}

async function checkWebhook(genArgs) {
  if (!webhookSecret) return check('webhooks.unwrap', 'fail', 'no webhook secret given');
  const deliveries = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/flora-webhook`;
  try {
    const started = await client.generations.create({ ...genArgs, prompt: 'a fox for the webhook', callback_url: url });
    const deadline = Date.now() + POLL_S * 1000;
    while (!deliveries.length && Date.now() < deadline) await sleep(100);
    if (!deliveries.length) return check('webhooks.unwrap', 'fail', `no delivery to ${url} in ${POLL_S} s`);
    const { headers, body } = deliveries[0];
    const event = await client.webhooks.unwrap(body, headers, webhookSecret);
    const problems = violations('webhooks.event', event);
    if (event.data?.run_id !== started.run_id) problems.push(`event for ${event.data?.run_id}, started ${started.run_id}`);
    if (headers['flora-event'] !== event.type) problems.push(`Flora-Event ${headers['flora-event']} vs ${event.type}`);
    if (headers['flora-webhook-id'] !== event.id) problems.push(`Flora-Webhook-Id ${headers['flora-webhook-id']} vs ${event.id}`);
    try {
      await client.webhooks.unwrap(body.replace(started.run_id, 'run_forged'), headers, webhookSecret);
      problems.push('a tampered body was accepted');
    } catch (err) {
      if (!(err instanceof WebhookVerificationError)) problems.push(`tampered body: ${err.constructor.name}`);
    }
    check('webhooks.unwrap', problems.length ? 'fail' : 'ok', problems.length ? problems : `${event.type} ${event.id} verified`);
  } catch (err) {
    check('webhooks.unwrap', 'fail', `${err.constructor.name}: ${err.message}`);
  } finally {
    server.close();
  }
}

main().catch((err) => {
  emit({ method: 'sdk:fatal', status: 'fail', detail: `${err?.constructor?.name}: ${err?.stack ?? err}` });
  process.exitCode = 1;
});
