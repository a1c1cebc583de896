// A person in headless Chromium (Debian's, driven by playwright-core) opening a page
// that Apache's mod_auth_openidc protects with gatehouse as the OpenID Provider.
// Run by apache.sh, which starts both and passes, in the environment: GH
// (gatehouse's issuer), AP (Apache's origin), CA (gatehouse's local CA), SHOTS
// (screenshot directory), CHROMIUM, ALICE_PW, ALICE_EMAIL, ALICE_NAME, ALICE_ROLE.
//
// Steps: open the page → gatehouse's sign-in page (labels "Username", "Password",
// button "Sign in") → consent naming the client ("Allow") → the page, showing the
// claims mod_auth_openidc passes on → mod_auth_openidc's logout → gatehouse's end
// session → the logged-out page; opening the page again asks to sign in. Chromium
// trusts gatehouse's certificate by its key alone (--ignore-certificate-errors-spki-list).
// A step fails on a console error or warning (CSP violations included), an
// uncaught page error, or a 5xx. Each step leaves NN-step.png in SHOTS
// (FAIL-NN-step.png when it fails). Prints "ok - ..." / "not ok - ...".

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const { GH, AP, CA, SHOTS, CHROMIUM, ALICE_PW, ALICE_EMAIL, ALICE_NAME, ALICE_ROLE } = process.env;
const WAIT = 15_000; // one navigation or action

// The SPKI hash of gatehouse's certificate: Chromium trusts that key, nothing else.
const leaf = fs.readFileSync(path.join(path.dirname(CA), 'tls-cert.pem'), 'utf8').split(/(?=-----BEGIN CERTIFICATE-----)/)[0];
const spki = new crypto.X509Certificate(leaf).publicKey.export({ type: 'spki', format: 'der' });
const PIN = crypto.createHash('sha256').update(spki).digest('base64');

const watchdog = setTimeout(() => {
  console.log('not ok - apache.mjs: the run took over 120 s');
  process.exit(1);
}, 120_000);

let failed = 0;
let stepNo = 0;
let problems = [];
let browser;
let page;

async function step(name, fn) {
  stepNo++;
  const shot = `${String(stepNo).padStart(2, '0')}-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/-$/, '').slice(0, 50)}`;
  problems = [];
  try {
    await fn();
    assert.deepEqual(problems, [], 'the browser reported problems');
    await page.screenshot({ path: path.join(SHOTS, `${shot}.png`), fullPage: true, timeout: WAIT });
    console.log(`ok - ${name}`);
    return true;
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}`);
    const lines = [String(err?.stack || err), `at ${page?.url()}`, ...problems];
    console.log(lines.join('\n').split('\n').map((l) => `#   ${l}`).join('\n'));
    await page?.screenshot({ path: path.join(SHOTS, `FAIL-${shot}.png`), fullPage: true, timeout: WAIT }).catch(() => {});
    return false;
  }
}

async function main() {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--no-first-run',
      '--disable-default-apps', '--disable-sync', `--ignore-certificate-errors-spki-list=${PIN}`,
    ],
  });
  const context = await browser.newContext();
  page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 500) problems.push(`${r.status()} from ${r.url()}`);
  });
  // Only the two servers of this test are ever asked.
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.origin === new URL(GH).origin || u.origin === new URL(AP).origin) return route.continue();
    problems.push(`request to another host: ${u.href}`);
    return route.abort();
  });

  const signIn = `${GH}/ui/login`;
  const ok1 = await step('the protected page sends the browser to the gatehouse sign-in page', async () => {
    await page.goto(`${AP}/protected/`);
    await page.waitForURL((u) => u.href.startsWith(signIn));
    await page.getByLabel('Username').waitFor();
    await page.getByLabel('Password').waitFor();
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  });
  if (!ok1) return;

  const ok2 = await step('signing in leads to the consent page naming the client', async () => {
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ALICE_PW);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    await page.getByRole('button', { name: 'Deny' }).waitFor();
    assert.ok(new URL(page.url()).href.startsWith(`${GH}/oidc/authorize?`), page.url());
    const text = await page.locator('main').innerText();
    assert.match(text, /Apache demo/);
    assert.match(text, /alice/);
  });
  if (!ok2) return;

  let claims = '';
  const ok3 = await step('Allow leads to the protected page, with the claims mod_auth_openidc passes on', async () => {
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${AP}/protected/`);
    claims = await page.locator('#claims').innerText();
    const want = {
      REMOTE_USER: 'alice',
      OIDC_CLAIM_preferred_username: 'alice',
      OIDC_CLAIM_email: ALICE_EMAIL,
      OIDC_CLAIM_name: ALICE_NAME,
      OIDC_CLAIM_role: ALICE_ROLE,
      OIDC_CLAIM_iss: GH,
    };
    for (const [k, v] of Object.entries(want)) {
      assert.ok(claims.split('\n').includes(`${k}=${v}`), `${k}=${v} missing from:\n${claims}`);
    }
    assert.match(claims, /^OIDC_CLAIM_sub=\S+$/m);
    assert.equal(await page.locator('h1').innerText(), 'Hello, alice');
  });
  if (!ok3) return;
  console.log(claims.trim().split('\n').map((l) => `#   ${l}`).join('\n'));

  await step('the page opens again without asking (mod_auth_openidc session)', async () => {
    const r = await page.goto(`${AP}/protected/`);
    assert.equal(r.status(), 200);
    assert.equal(page.url(), `${AP}/protected/`);
  });

  await step("mod_auth_openidc's logout ends the gatehouse session and lands on the logged-out page", async () => {
    const seen = [];
    const onRequest = (req) => req.isNavigationRequest() && seen.push(req.url());
    page.on('request', onRequest);
    await page.locator('#logout').click();
    await page.waitForURL(`${AP}/loggedout.html`);
    page.off('request', onRequest);
    const end = seen.find((u) => u.startsWith(`${GH}/oidc/logout?`));
    assert.ok(end, `gatehouse's end_session_endpoint was not visited: ${seen.join(' → ')}`);
    const q = new URL(end).searchParams;
    assert.ok(q.get('id_token_hint'), 'id_token_hint');
    assert.equal(q.get('post_logout_redirect_uri'), `${AP}/loggedout.html`);
    await page.getByRole('heading', { name: 'Signed out' }).waitFor();
  });

  await step('opening the page again asks to sign in at gatehouse', async () => {
    await page.goto(`${AP}/protected/`);
    await page.waitForURL((u) => u.href.startsWith(signIn));
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  });
}

try {
  await main();
} catch (err) {
  failed++;
  console.log(`not ok - apache.mjs stopped: ${err?.stack || err}`);
} finally {
  await browser?.close().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
