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

const checks = {
  // /docs renders the operations of the OpenAPI document with the Swagger UI
  // the api serves itself.
  async docs(browser) {
    const page = await newPage(browser);
    await page.goto(new URL('/docs', base).href);
    const ops = page.locator('.opblock-summary-path');
    await ops.first().waitFor();
    const paths = await ops.allTextContents();
    const want = cfg.docs_paths || ['/api/images', '/api/images/{id}', '/health'];
    for (const p of want) {
      assert(paths.some((t) => t.replace(/\u200b/g, '').trim() === p),
        `operation ${p} not rendered (got ${JSON.stringify(paths)})`);
    }
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
