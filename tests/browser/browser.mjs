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

async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
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

async function openGallery(browser) {
  const page = await newPage(browser);
  await page.goto(new URL('/', base).href);
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
  const alert = page.locator('[role=alert]');
  await alert.locator('p').waitFor();
  return alert.innerText();
}

async function stillSameDocument(page) {
  assert(await page.evaluate(() => window.notReloaded === true), 'the page was reloaded');
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
      assert(await img.getAttribute('src') === `/api/images/${s.id}`, `src of ${s.id}`);
      assert(await img.getAttribute('alt') === s.description, `alt of ${s.id}`);
      assert(await img.getAttribute('loading') === 'lazy', 'images are lazy-loaded');
      const caption = await f.locator('figcaption .desc').textContent();
      assert(caption === s.description, `caption of ${s.id}: ${caption}`);
      const dt = await f.locator('figcaption time').getAttribute('datetime');
      assert(dt === s.received_at, `time of ${s.id}: ${dt}`);
      const shown = await f.locator('figcaption time').textContent();
      const local = await page.evaluate((iso) => new Date(iso).toLocaleString(), s.received_at);
      assert(shown === local, `time shown ${shown}, local time ${local}`);
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
    const r = await submitUpload(page, text, cfg.files.jpeg);
    assert(r.status() === 202, `upload answered ${r.status()}`);
    const id = (await r.json()).id;
    await storedShown(page, id);
    const caption = await fig(page, id).locator('figcaption .desc').textContent();
    assert(caption === text, `caption ${caption}`);
    assert(await page.locator('#gallery figure').first().getAttribute('data-id') === id,
      'the new image is first');
    assert(await page.locator('#description').inputValue() === '', 'the form is cleared');
    assert((await page.locator('[role=alert]').textContent()).trim() === '', 'no alert');
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
  // [role=alert], in words; a broken JPEG shows as failed in the gallery.
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
    const cleared = await page.locator('[role=alert]').textContent();
    assert(cleared.trim() === '', 'the alert is cleared on a new upload');
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
    for (const id of ['image', 'description', 'token'])
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
