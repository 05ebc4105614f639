// Drives Debian's chromium (headless, through playwright-core) against a
// running imgcap api and checks what a person would see. Every request to a
// host other than the api's is aborted and recorded: a page that needs the
// internet fails here. Started by run.py, which owns the stack:
//   node browser.mjs <config.json>
// config: {"base": "http://127.0.0.1:PORT", "checks": ["docs", ...], ...}.
// Prints one line per check ("ok NAME" or "FAIL NAME: why") and exits 1 when
// any check failed.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const base = new URL(cfg.base);
const TIMEOUT = 30000;

const outside = []; // URLs the pages tried to reach outside the api
const pageErrors = []; // uncaught exceptions in the pages

async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, ...options });
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    const local = u.protocol === 'data:' || u.protocol === 'blob:' ||
      ((u.hostname === '127.0.0.1' || u.hostname === 'localhost') && u.port === base.port);
    if (local) return route.continue();
    outside.push(u.href);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  return page;
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// The figure of image id in the gallery.
const fig = (page, id) => page.locator(`#gallery figure[data-id="${id}"]`);

// Waits until the figure of id shows its image, loaded.
async function storedShown(page, id) {
  await fig(page, id).locator('img').waitFor();
  await page.waitForFunction((sel) => {
    const img = document.querySelector(sel);
    return img && img.complete && img.naturalWidth > 0;
  }, `#gallery figure[data-id="${id}"] img`, { timeout: TIMEOUT });
}

async function openGallery(browser, path = '/', options = {}) {
  const page = await newPage(browser, options);
  await page.goto(new URL(path, base).href);
  // Marks this document: a reload would lose the mark.
  await page.evaluate(() => { window.notReloaded = true; });
  await page.locator('#live.on').waitFor(); // the event stream is open
  return page;
}

// Fills the form with text and file, clicks Upload; returns the answer.
async function submitUpload(page, text, file) {
  await page.locator('#description').fill(text);
  await page.locator('#image').setInputFiles(file);
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/images') &&
    r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Upload' }).click();
  return answer;
}

// The text of the alert once it shows something.
async function alertText(page) {
  const alert = page.locator('#upload-error');
  await alert.locator('p').waitFor();
  return alert.innerText();
}

async function stillSameDocument(page) {
  assert(await page.evaluate(() => window.notReloaded === true), 'the page was reloaded');
}


// ---- the API from outside the page (another client) ----

const api = (path) => new URL(path, base).href;
const bearer = (token) => (token ? { Authorization: `Bearer ${token}` } : {});

// Uploads through the API; returns the 202 body once the image is stored.
async function apiUpload(description,
  { camera = null, token = null, file = cfg.files.jpeg, key = null } = {}) {
  const body = new FormData();
  body.append('image', new Blob([readFileSync(file)], { type: 'image/jpeg' }), 'frame.jpg');
  body.append('description', description);
  if (camera !== null) body.append('camera', camera);
  const headers = { ...bearer(token), ...(key ? { 'Idempotency-Key': key } : {}) };
  const r = await fetch(api('/api/images'), { method: 'POST', body, headers });
  assert(r.status === 202, `upload answered ${r.status}`);
  const accepted = await r.json();
  const stored = await fetch(api(`/api/images/${accepted.id}?wait=20`), { headers: bearer(token) });
  assert(stored.status === 200, `${accepted.id} not stored: ${stored.status}`);
  await stored.arrayBuffer();
  return accepted;
}

// Every image of the unfiltered list, newest first.
async function apiList(token = null) {
  const r = await fetch(api('/api/images?limit=1000'), { headers: bearer(token) });
  assert(r.status === 200, `list answered ${r.status}`);
  return (await r.json()).items;
}

// The camera an image was uploaded with: run.py's record for the seeded
// ones, else what the list says.
const sentCamera = new Map((cfg.seeded || []).map((s) => [s.id, s.sent_camera]));
const cameraOf = (it) => (sentCamera.has(it.id) ? sentCamera.get(it.id) : it.camera ?? null);

// ---- filters ----

const isList = (r) => new URL(r.url()).pathname === '/api/images' && r.request().method() === 'GET';

// Waits for the page's list request whose parameters include want (name ->
// value; null: absent), then until the page has shown its answer.
async function listAnswer(page, want, action) {
  const answered = page.waitForResponse((r) => {
    if (!isList(r)) return false;
    const p = new URL(r.url()).searchParams;
    return Object.entries(want).every(([k, v]) => (v === null ? !p.has(k) : p.get(k) === v));
  });
  await action();
  const r = await answered;
  await settled(page);
  return r;
}

// Waits until no page of the list is being loaded.
async function settled(page) {
  await page.waitForFunction(() =>
    document.getElementById('gallery-status').textContent !== 'Loading…');
}

// The ids of the figures, after every page of the list was loaded.
async function allShownIds(page) {
  for (let i = 0; i < 50; i++) {
    await settled(page);
    const more = page.locator('#more');
    if (!(await more.isVisible())) break;
    await more.click();
  }
  await settled(page);
  return page.locator('#gallery figure').evaluateAll((els) => els.map((e) => e.dataset.id));
}

function sameIds(got, want, what) {
  if (JSON.stringify(got) === JSON.stringify(want)) return;
  const extra = got.filter((id) => !want.includes(id));
  const missing = want.filter((id) => !got.includes(id));
  throw new Error(`${what}: shown ${got.length} images, want ${want.length}; ` +
    `${extra.length} not wanted (${extra.slice(0, 3).join(' ')}), ` +
    `${missing.length} missing (${missing.slice(0, 3).join(' ')})` +
    (extra.length || missing.length ? '' : ', out of order'));
}

const lower = (s) => s.toLocaleLowerCase();
const at = (it) => Date.parse(it.received_at);

// A datetime-local value in the page's time zone for the instant iso (what a
// person would type there); seconds only when not zero, as the input keeps it.
function localValue(page, iso) {
  return page.evaluate((t) => {
    const d = new Date(t);
    const p = (n) => String(n).padStart(2, '0');
    const s = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
      `${p(d.getHours())}:${p(d.getMinutes())}`;
    return d.getSeconds() ? `${s}:${p(d.getSeconds())}` : s;
  }, iso);
}

// An RFC 3339 time with an offset or Z: what the page must send.
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

// Records in the page, from an event stream of its own, the ids of the
// stored events: what the page's own stream has been sent too.
async function recordStoredEvents(page) {
  await page.evaluate(() => new Promise((resolve) => {
    window.storedSeen = [];
    const es = new EventSource('/api/events');
    es.addEventListener('stored', (e) => window.storedSeen.push(JSON.parse(e.data).id));
    es.onopen = resolve;
  }));
}
const eventSeen = (page, id) => page.waitForFunction((i) => window.storedSeen.includes(i), id);

// Opens the sign-in dialog, enters token, signs in.
async function signIn(page, token) {
  await page.getByRole('button', { name: 'Sign in to delete' }).click();
  const dialog = page.locator('#signin');
  await dialog.waitFor({ state: 'visible' });
  await page.locator('#signin-token').fill(token);
  await page.locator('#signin-token').press('Enter');
  await dialog.waitFor({ state: 'hidden' });
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

const checks = {
  // /docs renders the operations of the OpenAPI document with the Swagger UI
  // the api serves itself.
  async docs(browser) {
    const page = await newPage(browser);
    await page.goto(new URL('/docs', base).href);
    const ops = page.locator('.opblock-summary-path');
    await ops.first().waitFor();
    const paths = await ops.allTextContents();
    const want = ['/api/images', '/api/images/{id}', '/api/events', '/health'];
    for (const p of want) {
      assert(paths.some((t) => t.replace(/\u200b/g, '').trim() === p),
        `operation ${p} not rendered (got ${JSON.stringify(paths)})`);
    }
    // No API_TOKEN here: nothing to authorize, so no lock and no Authorize
    // button (the same page with a token shows both: docs_locks).
    const locks = await page.locator('.authorization__btn').count();
    assert(locks === 0, `${locks} operation locks drawn without a token configured`);
    assert(await page.locator('.btn.authorize').count() === 0, 'Authorize button drawn without a token');
    await page.context().close();
  },

  // With API_TOKEN set, the operations that take the bearer token show their
  // lock and the page its Authorize button.
  async docs_locks(browser) {
    const page = await newPage(browser);
    await page.goto(new URL('/docs', base).href);
    await page.locator('.opblock-summary-path').first().waitFor();
    await page.locator('.btn.authorize').waitFor();
    const locks = await page.locator('.authorization__btn').count();
    assert(locks > 0, 'no operation lock drawn with a token configured');
    await page.context().close();
  },

  // The stored images, newest first, each a <figure> with its <img> and a
  // <figcaption> with the description and the local received time; more
  // pages as the user scrolls.
  async gallery(browser) {
    const page = await openGallery(browser);
    const seeded = cfg.seeded; // newest first
    const first = page.locator('#gallery figure');
    await fig(page, seeded[0].id).waitFor();
    const initial = await first.count();
    assert(initial === 24, `first page shows ${initial} figures, not 24`);
    for (const [i, s] of seeded.slice(0, 24).entries()) {
      const f = first.nth(i);
      assert(await f.getAttribute('data-id') === s.id, `figure ${i} is not image ${s.id}`);
      const img = f.locator('img');
      const src = await img.getAttribute('src');
      assert(src === (s.thumbnail_url || s.url), `src of ${s.id}: ${src}`);
      assert(await img.getAttribute('alt') === s.description, `alt of ${s.id}`);
      assert(await img.getAttribute('loading') === 'lazy', 'images are lazy-loaded');
      const caption = await f.locator('figcaption .desc').textContent();
      assert(caption === s.description, `caption of ${s.id}: ${caption}`);
      const dt = await f.locator('figcaption time').getAttribute('datetime');
      assert(dt === s.received_at, `time of ${s.id}: ${dt}`);
      const shown = await f.locator('figcaption time').textContent();
      const local = await page.evaluate((iso) => new Date(iso).toLocaleString(), s.received_at);
      assert(shown === local, `time shown ${shown}, local time ${local}`);
      const cam = f.locator('figcaption .camera');
      if (s.camera) assert(await cam.textContent() === s.camera, `camera of ${s.id}`);
      else assert(await cam.count() === 0, `no camera shown for ${s.id}`);
      assert(!(await f.locator('.delete').isVisible()), 'no Delete button without a token');
    }
    await storedShown(page, seeded[0].id);
    // Scrolling to the end fetches the next page (the list's `next`).
    await page.locator('#gallery-status').scrollIntoViewIfNeeded();
    await fig(page, seeded[seeded.length - 1].id).waitFor();
    const ids = await first.evaluateAll((els) => els.map((e) => e.dataset.id));
    const want = seeded.map((s) => s.id);
    assert(JSON.stringify(ids.slice(0, want.length)) === JSON.stringify(want),
      'after scrolling, every image in order, newest first');
    await stillSameDocument(page);
    if (cfg.screenshot) {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.waitForFunction(() => Array.from(document.querySelectorAll('#gallery img'))
        .slice(0, 8).every((i) => i.complete && i.naturalWidth > 0));
      await page.screenshot({ path: cfg.screenshot });
    }
    await page.context().close();
  },

  // An upload through the form appears in the gallery without a reload;
  // the character count follows the description.
  async upload(browser) {
    const page = await openGallery(browser);
    const text = 'Камера 7: въезд на парковку, северная сторона';
    await page.locator('#description').fill(text);
    const left = await page.locator('#description-count').textContent();
    assert(left === `${200 - Array.from(text).length} characters left`, `count: ${left}`);
    const width = async () => (await page.locator('#description').boundingBox()).width;
    const before = await width();
    const r = await submitUpload(page, text, cfg.files.jpeg);
    assert(r.status() === 202, `upload answered ${r.status()}`);
    const id = (await r.json()).id;
    await page.locator('#upload-status', { hasText: 'Uploaded' }).waitFor();
    const after = await width();
    assert(Math.abs(after - before) < 1,
      `the status line resized the description: ${before} -> ${after}`);
    assert(before > 500, `the description box is ${before} px wide`);
    await storedShown(page, id);
    const caption = await fig(page, id).locator('figcaption .desc').textContent();
    assert(caption === text, `caption ${caption}`);
    assert(await page.locator('#gallery figure').first().getAttribute('data-id') === id,
      'the new image is first');
    assert(await page.locator('#description').inputValue() === '', 'the form is cleared');
    assert((await page.locator('#upload-error').textContent()).trim() === '', 'no alert');
    const key = r.request().headers()['idempotency-key'];
    assert(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(key),
      `Idempotency-Key ${key}`);
    // An answer lost on the way back: the same upload with the page's key
    // reaches the api (sent from here: a route cannot forward a file), the
    // page sees a reset connection. Submitting again sends the same key and
    // gets the same id, not a second image.
    const again = 'Камера 7: ответ потерян';
    let lost = null;
    await page.route('**/api/images', async (route) => {
      if (route.request().method() !== 'POST' || lost) return route.fallback();
      lost = await apiUpload(again, { key: route.request().headers()['idempotency-key'] });
      return route.abort('connectionreset');
    });
    await page.locator('#description').fill(again);
    await page.locator('#image').setInputFiles(cfg.files.jpeg);
    await page.getByRole('button', { name: 'Upload' }).click();
    await alertText(page);
    assert(lost !== null, 'the first try reached the api');
    const retry = page.waitForResponse((q) => q.url().endsWith('/api/images') &&
      q.request().method() === 'POST');
    await page.getByRole('button', { name: 'Upload' }).click();
    const second = await retry;
    assert(second.status() === 202, `the retry answered ${second.status()}`);
    assert((await second.json()).id === lost.id, 'the retry names the first id');
    assert(second.headers()['idempotent-replayed'] === 'true', 'the retry is a replay');
    assert(second.request().headers()['idempotency-key'] !== key, 'a new upload has a new key');
    await storedShown(page, (await second.json()).id);
    await stillSameDocument(page);
    await page.context().close();
  },

  // An image uploaded by another client appears through the event stream.
  async live(browser) {
    const page = await openGallery(browser);
    const body = new FormData();
    body.append('image', new Blob([readFileSync(cfg.files.jpeg)], { type: 'image/jpeg' }),
      'other.jpg');
    body.append('description', 'uploaded by another client');
    const r = await fetch(new URL('/api/images', base), { method: 'POST', body });
    assert(r.status === 202, `upload answered ${r.status}`);
    const { id } = await r.json();
    await storedShown(page, id);
    await stillSameDocument(page);
    await page.context().close();
  },

  // A file that is not a JPEG: the problem's detail and field messages in
  // the upload form's alert (role=alert), in words; a broken JPEG shows as
  // failed in the gallery; a bad camera name is flagged before sending.
  async errors(browser) {
    const page = await openGallery(browser);
    const refused = await submitUpload(page, 'not a picture', cfg.files.not_jpeg);
    assert(refused.status() === 415, `a non-JPEG answered ${refused.status()}`);
    const text = await alertText(page);
    assert(text.includes('The image is not a JPEG.'), `alert: ${text}`);
    assert(text.includes('Image: Not a JPEG'), `alert lists the field error: ${text}`);
    // A description over 200 characters is flagged before sending.
    await page.locator('#description').fill('x'.repeat(205));
    const count = await page.locator('#description-count').textContent();
    assert(count === '5 characters too many', `count: ${count}`);
    // A JPEG that cannot be rendered: pending, then failed with its reason.
    const id = (await (await submitUpload(page, 'cut short', cfg.files.broken)).json()).id;
    await page.locator(`#gallery figure.failed[data-id="${id}"]`).waitFor();
    const failed = await fig(page, id).innerText();
    assert(/Failed: .+/.test(failed) && failed.includes('cut short'), `failed figure: ${failed}`);
    const cleared = await page.locator('#upload-error').textContent();
    assert(cleared.trim() === '', 'the alert is cleared on a new upload');
    // A camera name the api would refuse is flagged before sending.
    let posted = 0;
    page.on('request', (q) => { if (q.method() === 'POST') posted++; });
    await page.locator('#camera').fill('gate 4!');
    await page.locator('#description').fill('a camera with a bad name');
    await page.locator('#image').setInputFiles(cfg.files.jpeg);
    await page.getByRole('button', { name: 'Upload' }).click();
    const camText = await alertText(page);
    assert(camText.includes('Camera: Use 1 to 64'), `alert: ${camText}`);
    assert(await page.locator('#camera').getAttribute('aria-invalid') !== null, 'camera marked');
    assert(posted === 0, 'nothing was sent');
    await stillSameDocument(page);
    await page.context().close();
  },

  // Clicking an image (or Enter on it) shows it full size with its caption.
  async viewer(browser) {
    const page = await openGallery(browser);
    const s = cfg.seeded[0];
    await storedShown(page, s.id);
    await fig(page, s.id).locator('a').click();
    const dialog = page.locator('#viewer');
    await dialog.waitFor({ state: 'visible' });
    assert(await page.locator('#viewer-img').getAttribute('src') === `/api/images/${s.id}`,
      'full-size image');
    assert((await page.locator('#viewer-caption').textContent()).startsWith(s.description),
      'caption in the viewer');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    // Keyboard only: focus the image's link, Enter.
    await fig(page, s.id).locator('a').focus();
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'visible' });
    await page.keyboard.press('Escape');
    for (const [sel, name] of [['a[href="/docs"]', 'docs'], ['a[href="/health"]', 'health']])
      assert(await page.locator(sel).count() === 1, `link to /${name}`);
    for (const id of ['image', 'camera', 'description', 'token', 'f-q', 'f-from', 'f-to',
      'f-camera', 'signin-token'])
      assert(await page.locator(`label[for="${id}"]`).count() === 1, `label for #${id}`);
    await stillSameDocument(page);
    await page.context().close();
  },

  // With API_TOKEN set: the page asks for the token, keeps it in session
  // storage and sends it as Authorization: Bearer.
  async token(browser) {
    const page = await openGallery(browser);
    const refused = await submitUpload(page, 'with a token', cfg.files.jpeg);
    assert(refused.status() === 401, `an upload without the token answered ${refused.status()}`);
    assert((await alertText(page)).includes('needs an API token'), 'asks for the token');
    assert(await page.locator('#token').evaluate((el) => el === document.activeElement),
      'the token field has the focus');
    await page.locator('#token').fill(cfg.token);
    const r = await submitUpload(page, 'with a token', cfg.files.jpeg);
    assert(r.request().headers().authorization === `Bearer ${cfg.token}`, 'bearer header');
    assert(r.status() === 202, `upload with the token answered ${r.status()}`);
    await storedShown(page, (await r.json()).id);
    const kept = await page.evaluate(() => sessionStorage.getItem('imgcap-token'));
    assert(kept === cfg.token, 'token kept in session storage');
    await page.context().close();
  },
  // Live events with a filter: another client's upload that matches q
  // (case-insensitive) appears, one that does not never does.
  async livefilter(browser) {
    const page = await openGallery(browser, `/?q=${encodeURIComponent('зебра')}`);
    await settled(page);
    assert(await page.locator('#f-q').inputValue() === 'зебра', 'q from the address');
    await recordStoredEvents(page);
    const other = await apiUpload('Переход без разметки, другой клиент');
    const match = await apiUpload('Переход ЗЕБРА у школы, другой клиент');
    await storedShown(page, match.id);
    await eventSeen(page, other.id);
    await page.waitForTimeout(300); // both streams were sent the event together
    assert(await fig(page, other.id).count() === 0, 'an upload not matching q is not shown');
    await stillSameDocument(page);
    await page.context().close();
  },

  // The search box: q sent once typing pauses (debounced), case-insensitive
  // in any script, the figures are exactly the matching images; more than a
  // page of matches loads page after page with q kept.
  async search(browser) {
    const page = await openGallery(browser);
    await settled(page);
    const all = await apiList();
    const lists = [];
    page.on('request', (q) => {
      if (new URL(q.url()).pathname === '/api/images' && q.method() === 'GET') lists.push(q.url());
    });
    const box = page.getByLabel('Search descriptions');
    for (const q of ['ПАРКОВКА', 'gate 4', 'камера']) {
      lists.length = 0;
      await listAnswer(page, { q }, async () => {
        await box.fill('');
        await box.pressSequentially(q, { delay: 40 });
      });
      await page.waitForTimeout(400);
      // Debounced: not a request per keystroke (two when the machine stalled
      // a keystroke past the pause), the last one with all of q.
      const params = (u) => new URL(u).searchParams;
      const withQ = lists.filter((u) => params(u).has('q') && !params(u).has('before'));
      assert(withQ.length >= 1 && withQ.length <= 2 && params(withQ.at(-1)).get('q') === q,
        `typing "${q}" sent ${withQ.length} first-page requests: ${withQ.join(' ')}`);
      const want = all.filter((it) => lower(it.description).includes(lower(q))).map((it) => it.id);
      assert(want.length > 0, `the seed has images with "${q}"`);
      sameIds(await allShownIds(page), want, `q=${q}`);
      if (want.length > 24) {
        const later = lists.filter((u) => new URL(u).searchParams.has('before'));
        assert(later.length > 0 && later.every((u) => new URL(u).searchParams.get('q') === q),
          `the next pages keep q: ${later.join(' ')}`);
      }
    }
    await listAnswer(page, { q: 'нет такого' }, () => box.fill('нет такого'));
    assert(await page.locator('#gallery figure').count() === 0, 'nothing matches');
    assert(await page.locator('#gallery-status').textContent() === 'No images match these filters.',
      'says that nothing matches');
    await stillSameDocument(page);
    await page.context().close();
  },

  // From and to, typed in the viewer's local time (a time zone 5:45 ahead of
  // UTC), are sent as RFC 3339; the figures are the images received in
  // [from, to); to <= from is refused by the api, said next to "To".
  async timerange(browser) {
    const page = await openGallery(browser, '/', { timezoneId: 'Asia/Kathmandu' });
    await settled(page);
    const [t1, t2] = cfg.bounds;
    const all = await apiList();
    const from = await localValue(page, t1);
    const to = await localValue(page, t2);
    const r = await listAnswer(page, { to: null }, () => page.getByLabel(/^From/).fill(from));
    let p = new URL(r.url()).searchParams;
    assert(RFC3339.test(p.get('from')) && Date.parse(p.get('from')) === Date.parse(t1),
      `from sent as ${p.get('from')} for ${from} in Asia/Kathmandu, want ${t1}`);
    const since = all.filter((it) => at(it) >= Date.parse(t1)).map((it) => it.id);
    sameIds(await allShownIds(page), since, `from ${t1}`);
    const r2 = await listAnswer(page, {}, async () => page.getByLabel(/^To/).fill(to));
    p = new URL(r2.url()).searchParams;
    assert(RFC3339.test(p.get('to')) && Date.parse(p.get('to')) === Date.parse(t2),
      `to sent as ${p.get('to')}, want ${t2}`);
    const want = all.filter((it) => at(it) >= Date.parse(t1) && at(it) < Date.parse(t2));
    assert(want.length === 10, `the seed's middle group has ${want.length} images`);
    sameIds(await allShownIds(page), want.map((it) => it.id), `[${t1}, ${t2})`);
    // to not after from: the api's 422 in words next to "To".
    const refused = await listAnswer(page, {}, () => page.getByLabel(/^From/).fill(to));
    assert(refused.status() === 422, `from = to answered ${refused.status()}`);
    const why = await page.locator('#f-to-error').textContent();
    assert(why.length > 3, `the 422 in words next to "To": "${why}"`);
    assert(await page.locator('#f-to').getAttribute('aria-invalid') === 'true', 'To marked');
    assert((await refused.json()).errors.some((e) => e.field === 'to'), 'the api names "to"');
    assert(await page.locator('#gallery figure').count() === 0, 'no images under a refused filter');
    await stillSameDocument(page);
    await page.context().close();
  },

  // The camera filter is exact; a name the api refuses is said next to it;
  // each figure says its camera; an upload with the camera shows, one with
  // another camera does not.
  async camera(browser) {
    const page = await openGallery(browser);
    await settled(page);
    const all = await apiList();
    const input = page.getByLabel('Camera', { exact: true });
    await listAnswer(page, { camera: 'gate_4' }, () => input.fill('gate_4'));
    const want = all.filter((it) => cameraOf(it) === 'gate_4').map((it) => it.id);
    assert(want.length === 10, `the seed has ${want.length} images of gate_4`);
    sameIds(await allShownIds(page), want, 'camera=gate_4');
    for (const c of await page.locator('#gallery figure .camera').allTextContents())
      assert(c === 'gate_4', `a figure says camera ${c}`);
    if (cfg.screenshot) {
      await page.waitForFunction(() => Array.from(document.querySelectorAll('#gallery img'))
        .slice(0, 8).every((i) => i.complete && i.naturalWidth > 0));
      await page.screenshot({ path: cfg.screenshot });
    }
    await listAnswer(page, { camera: 'GATE_4' }, () => input.fill('GATE_4'));
    assert(await page.locator('#gallery figure').count() === 0, 'camera names are exact');
    const refused = await listAnswer(page, { camera: 'gate 4' }, () => input.fill('gate 4'));
    assert(refused.status() === 422, `camera "gate 4" answered ${refused.status()}`);
    const why = await page.locator('#f-camera-error').textContent();
    assert(why.length > 3, `the camera's 422 in words: "${why}"`);
    assert(await page.locator('#f-camera').getAttribute('aria-invalid') === 'true', 'marked');
    // Uploads through the form while the filter is gate_4.
    await listAnswer(page, { camera: 'gate_4' }, () => input.fill('gate_4'));
    assert(await page.locator('#f-camera-error').textContent() === '', 'the message is gone');
    await page.locator('#camera').fill('gate_4');
    const r = await submitUpload(page, 'Камера на воротах 4', cfg.files.jpeg);
    assert(r.status() === 202 && (await r.json()).camera === 'gate_4', 'the 202 has the camera');
    const id = (await r.json()).id;
    await storedShown(page, id);
    assert(await fig(page, id).locator('.camera').textContent() === 'gate_4', 'its camera shown');
    await recordStoredEvents(page);
    await page.locator('#camera').fill('north-1');
    const r2 = await submitUpload(page, 'Камера north-1, не под фильтром', cfg.files.jpeg);
    const other = (await r2.json()).id;
    await eventSeen(page, other);
    await page.waitForTimeout(300);
    assert(await fig(page, other).count() === 0, 'an upload of another camera is not shown');
    await stillSameDocument(page);
    await page.context().close();
  },

  // The filters are in the page's address: a reload, or the address opened
  // anew, shows the same filtered list; Clear filters empties both.
  async filterurl(browser) {
    const page = await openGallery(browser);
    await settled(page);
    const [t1] = cfg.bounds;
    const all = await apiList();
    const from = await localValue(page, t1);
    await page.getByLabel('Search descriptions').fill('въезд');
    await page.getByLabel('Camera', { exact: true }).fill('north-1');
    await listAnswer(page, { q: 'въезд', camera: 'north-1' },
      () => page.getByLabel(/^From/).fill(from));
    const want = all.filter((it) => lower(it.description).includes('въезд') &&
      cameraOf(it) === 'north-1' && at(it) >= Date.parse(t1)).map((it) => it.id);
    assert(want.length === 3, `the seed has ${want.length} such images`);
    sameIds(await allShownIds(page), want, 'q + camera + from');
    const address = new URL(page.url());
    const p = address.searchParams;
    assert(p.get('q') === 'въезд' && p.get('camera') === 'north-1' &&
      Date.parse(p.get('from')) === Date.parse(t1) && !p.has('to'), `address: ${address}`);
    await listAnswer(page, { q: 'въезд', camera: 'north-1' }, () => page.reload());
    assert(await page.getByLabel('Search descriptions').inputValue() === 'въезд', 'q restored');
    assert(await page.getByLabel('Camera', { exact: true }).inputValue() === 'north-1',
      'camera restored');
    assert(await page.getByLabel(/^From/).inputValue() === from, 'from restored');
    sameIds(await allShownIds(page), want, 'after a reload');
    const again = await openGallery(browser, address.pathname + address.search);
    await settled(again);
    sameIds(await allShownIds(again), want, 'the address opened in another tab');
    await again.context().close();
    await listAnswer(page, { q: null, camera: null, from: null },
      () => page.getByRole('button', { name: 'Clear filters' }).click());
    assert(new URL(page.url()).search === '', `address after clearing: ${page.url()}`);
    assert(await page.getByLabel('Search descriptions').inputValue() === '', 'q cleared');
    assert(await page.locator('#gallery figure').first().getAttribute('data-id') === all[0].id,
      'the newest image first again');
    await page.context().close();
  },

  // The figures show the thumbnails (at most THUMBNAIL_SIZE = 320 px);
  // clicking one opens the full image.
  async thumbnails(browser) {
    const page = await openGallery(browser);
    await settled(page);
    for (const s of cfg.seeded.slice(0, 4)) {
      assert(s.thumbnail_url === `/api/images/${s.id}/thumbnail`, `thumbnail_url of ${s.id}`);
      const img = fig(page, s.id).locator('img');
      assert((await img.getAttribute('src')).endsWith('/thumbnail'), `src of ${s.id}`);
      await storedShown(page, s.id);
      const [w, h] = await img.evaluate((i) => [i.naturalWidth, i.naturalHeight]);
      assert(w > 0 && w <= 320 && h <= 320, `thumbnail of ${s.id} is ${w}x${h}`);
    }
    const s = cfg.seeded[0];
    await fig(page, s.id).locator('a').click();
    await page.locator('#viewer').waitFor({ state: 'visible' });
    assert(await page.locator('#viewer-img').getAttribute('src') === s.url, 'the full image');
    await page.waitForFunction(() => document.getElementById('viewer-img').naturalWidth > 320);
    await page.keyboard.press('Escape');
    await page.context().close();
  },

  // Without API_TOKEN on the server deleting is off: 403, said in words.
  async nodelete(browser) {
    const page = await openGallery(browser);
    await settled(page);
    const s = cfg.seeded[0];
    await signIn(page, 'any-token');
    await fig(page, s.id).locator('.delete').click();
    await page.locator('#confirm').waitFor({ state: 'visible' });
    const answer = page.waitForResponse((r) => r.request().method() === 'DELETE');
    await page.locator('#confirm-delete').click();
    assert((await answer).status() === 403, 'DELETE without API_TOKEN configured');
    await page.locator('#confirm-error p').waitFor();
    const why = await page.locator('#confirm-error').innerText();
    assert(why.includes('API_TOKEN'), `403 in words: ${why}`);
    await page.keyboard.press('Escape');
    await page.locator('#confirm').waitFor({ state: 'hidden' });
    assert(await fig(page, s.id).count() === 1, 'the image is still shown');
    await page.context().close();
  },

  // With API_TOKEN: Delete buttons once signed in; a confirmation dialog
  // (Cancel and Esc keep the image); a refused token in words; confirmed, a
  // DELETE with the token, the figure disappears here and, through
  // event: deleted, in another page; the image and thumbnail are then 404.
  async delete(browser) {
    const one = await apiUpload('Удалить меня: первый кадр', { token: cfg.token, camera: 'del-1' });
    const two = await apiUpload('Удалить меня: второй кадр', { token: cfg.token });
    const page = await openGallery(browser);
    const watcher = await openGallery(browser);
    await storedShown(page, one.id);
    await storedShown(watcher, two.id);
    const button = fig(page, one.id).locator('.delete');
    assert(!(await button.isVisible()), 'no Delete button before signing in');
    const deletes = [];
    page.on('request', (q) => { if (q.method() === 'DELETE') deletes.push(q); });
    // A wrong token: 401 in words.
    await signIn(page, 'not-the-token');
    await button.click();
    const dialog = page.locator('#confirm');
    await dialog.waitFor({ state: 'visible' });
    assert((await page.locator('#confirm-text').textContent()).includes(one.description),
      'the dialog names the image');
    let answer = page.waitForResponse((r) => r.request().method() === 'DELETE');
    await page.locator('#confirm-delete').click();
    assert((await answer).status() === 401, 'a wrong token is refused');
    await page.locator('#confirm-error p').waitFor();
    assert((await page.locator('#confirm-error').innerText()).includes('refused the API token'),
      '401 in words');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Sign out' }).click();
    assert(!(await button.isVisible()), 'no Delete button after signing out');
    await signIn(page, cfg.token);
    assert(await page.evaluate(() => sessionStorage.getItem('imgcap-token')) === cfg.token,
      'the token is kept for the session');
    // Cancel, then Esc: nothing is sent, the image stays.
    deletes.length = 0;
    await button.click();
    await dialog.waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await button.focus();
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'visible' });
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert(deletes.length === 0, 'Cancel and Esc send nothing');
    assert(await fig(page, one.id).count() === 1, 'still shown after Cancel');
    // Confirmed.
    await button.click();
    await dialog.waitFor({ state: 'visible' });
    answer = page.waitForResponse((r) => r.request().method() === 'DELETE');
    await page.locator('#confirm-delete').click();
    const r = await answer;
    assert(r.status() === 204, `DELETE answered ${r.status()}`);
    assert(r.request().headers().authorization === `Bearer ${cfg.token}`, 'bearer header');
    assert(new URL(r.url()).pathname === `/api/images/${one.id}`, `DELETE ${r.url()}`);
    await dialog.waitFor({ state: 'hidden' });
    await fig(page, one.id).waitFor({ state: 'detached' });
    await fig(watcher, one.id).waitFor({ state: 'detached' }); // event: deleted
    for (const path of [one.url, `/api/images/${one.id}/thumbnail`]) {
      const got = await fetch(api(path), { headers: bearer(cfg.token) });
      assert(got.status === 404, `GET ${path} after the delete answered ${got.status}`);
    }
    // From the viewer.
    await fig(page, two.id).locator('a').click();
    await page.locator('#viewer').waitFor({ state: 'visible' });
    await page.locator('#viewer-delete').click();
    await dialog.waitFor({ state: 'visible' });
    answer = page.waitForResponse((x) => x.request().method() === 'DELETE');
    await page.locator('#confirm-delete').click();
    assert((await answer).status() === 204, 'DELETE from the viewer');
    await page.locator('#viewer').waitFor({ state: 'hidden' });
    await fig(page, two.id).waitFor({ state: 'detached' });
    await fig(watcher, two.id).waitFor({ state: 'detached' });
    await stillSameDocument(page);
    await watcher.context().close();
    await page.context().close();
  },
};

const browser = await chromium.launch({
  executablePath: cfg.chromium || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage'],
});
let failed = 0;
for (const name of cfg.checks) {
  try {
    await checks[name](browser);
    console.log(`ok ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.message ? e.message : e}`);
  }
}
await browser.close();
if (outside.length) {
  failed++;
  console.log(`FAIL offline: requests to outside hosts: ${outside.join(' ')}`);
} else {
  console.log('ok offline: no request left the api');
}
if (pageErrors.length) {
  failed++;
  console.log(`FAIL page errors: ${pageErrors.join(' | ')}`);
}
process.exit(failed ? 1 : 0);
