// Second factors in a real browser (SPEC §10, issue 15): Debian's headless
// Chromium, driven by playwright-core, with the DevTools protocol's virtual
// authenticator (WebAuthn.enable, WebAuthn.addVirtualAuthenticator: a CTAP2
// platform authenticator with resident keys and user verification), against
// the real binary on https://localhost:PORT (the rp id is the host name; an IP
// address cannot be one).
//
//   node tests/browser/mfa.test.mjs [path/to/gatehouse]     (run.sh does this)
//
// 1. alice adds a passkey on the account page (Chromium makes the credential);
// 2. signs in with it alone (password-less, a discoverable credential);
// 3. signs in with her password and the passkey as the second step;
// 4. bob turns on an authenticator app on the account page and signs in with a
//    code that Python's pyotp computes from the secret the page showed.
// Screenshots go to UI_SCREENSHOT_DIR (target/ui-screenshots/mfa-*.png); with
// DOCS_SCREENSHOTS=1 the two README pictures are rewritten in docs/screenshots/.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.resolve(process.argv[2] || path.join(ROOT, 'target/debug/gatehouse'));
const SHOTS = path.resolve(process.env.UI_SCREENSHOT_DIR || path.join(ROOT, 'target/ui-screenshots'));
const WAIT = 10_000;
const PASSWORD = 'Passk3y-test!pw';
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] mfa:`, ...a);

let server;
let tmp;
let browser;
const problems = [];
const watchdog = setTimeout(() => { console.error('mfa: over 120 s, giving up'); finish(1); }, 120_000);

function finish(code) {
  clearTimeout(watchdog);
  if (server) server.kill('SIGTERM');
  Promise.resolve(browser && browser.close()).catch(() => {}).finally(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    process.exit(code);
  });
}

async function startServer() {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-mfa-'));
  const dataDir = path.join(tmp, 'data');
  const ready = path.join(tmp, 'ready');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GATEHOUSE_')));
  server = spawn(BIN, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--ready-file', ready,
    '--hostname', 'localhost', '--scrypt-log-n', '10', '--api-rate-limit', 'off', '--login-rate-limit', 'off',
    '--log-format', 'text', '--shutdown-timeout', '2'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let serverLog = '';
  server.stderr.on('data', (s) => { serverLog += s; });
  for (let i = 0; i < 300 && !fs.existsSync(ready); i++) await sleep(100);
  assert.ok(fs.existsSync(ready), `gatehouse did not start:\n${serverLog}`);
  const port = Number(fs.readFileSync(ready, 'utf8').trim().split(':').pop());
  const pem = fs.readFileSync(path.join(dataDir, 'tls-cert.pem'));
  return { base: `https://localhost:${port}`, pem };
}

/** POST JSON to gatehouse from Node (trusting its CA). */
function post(base, pem, p, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(base + p, { method: 'POST', ca: pem, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** A TOTP code from Python's pyotp (never gatehouse's own code), `ahead` steps on. */
function pyotp(secret, ahead = 0) {
  const code = `import pyotp, sys, time; print(pyotp.TOTP(sys.argv[1]).at(time.time() + 30 * ${ahead}))`;
  return execFileSync('python3', ['-c', code, secret], { encoding: 'utf8' }).trim();
}

/** The SPKI hash Chromium is told to trust (WebAuthn refuses pages with certificate errors). */
function spki(pem) {
  const leaf = new crypto.X509Certificate(pem);
  const der = leaf.publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(der).digest('base64');
}

async function step(name, fn) {
  log(`▶ ${name}`);
  await fn();
  if (problems.length) throw new Error(`${name}: ${problems.join('\n')}`);
  log(`✔ ${name}`);
}

async function shot(page, locator, name) {
  await (locator || page).screenshot({ path: path.join(SHOTS, `mfa-${name}.png`) });
  if (process.env.DOCS_SCREENSHOTS === '1') {
    await (locator || page).screenshot({ path: path.join(ROOT, 'docs', 'screenshots', `${name}.png`) });
  }
}

async function passwordSignIn(page, base, name) {
  await page.goto(`${base}/ui/login`);
  await page.fill('#username', name);
  await page.fill('#password', PASSWORD);
  await page.click('#login-button');
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const { base, pem } = await startServer();
  log(`gatehouse at ${base}`);
  for (const name of ['alice', 'bob']) {
    assert.equal(await post(base, pem, '/api/v1/users/register', { username: name, email: `${name}@example.com`, password: PASSWORD }), 201);
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--ignore-certificate-errors-spki-list=${spki(pem)}`],
  });
  const context = await browser.newContext({ viewport: { width: 900, height: 900 }, locale: 'en-US', timezoneId: 'UTC' });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (/CSP|Content Security Policy/i.test(m.text())) problems.push(m.text()); });
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });
  const signedOut = async () => { await context.clearCookies(); };

  await step('account page: add a passkey', async () => {
    await passwordSignIn(page, base, 'alice');
    await page.waitForURL(/\/ui\/account/);
    await page.fill('#passkey-name', 'Laptop');
    await page.click('#passkey-add');
    await page.getByText('Passkey \u201cLaptop\u201d added.').waitFor();
    await page.locator('#recovery-codes').waitFor();
    await page.locator('#passkey-list li').first().waitFor();
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential');
    assert.equal(credentials[0].rpId, 'localhost');
    await shot(page, page.locator('#mfa-section'), 'account-two-step');
  });

  await step('sign-in page: a passkey alone', async () => {
    await signedOut();
    await page.goto(`${base}/ui/login`);
    await page.click('#passkey-login');
    await page.waitForURL(/\/ui\/account/);
    await page.getByText('alice').first().waitFor();
  });

  await step('sign-in page: password, then the passkey as the second step', async () => {
    await signedOut();
    await passwordSignIn(page, base, 'alice');
    await page.locator('#otp-field').waitFor({ state: 'visible' });
    await page.locator('#otp-passkey').waitFor({ state: 'visible' });
    await shot(page, page.locator('main'), 'sign-in-second-step');
    await page.click('#otp-passkey');
    await page.waitForURL(/\/ui\/account/);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.ok(credentials[0].signCount >= 2, `the counter moved: ${credentials[0].signCount}`);
  });

  await step('account page: rename the passkey', async () => {
    page.once('dialog', (d) => d.accept('Work laptop'));
    await page.locator('#passkey-list li button', { hasText: 'Rename' }).click();
    await page.getByText('Passkey renamed.').waitFor();
    await page.locator('#passkey-list li', { hasText: 'Work laptop' }).waitFor();
  });

  await step('TOTP: enroll on the account page, sign in with a pyotp code', async () => {
    await signedOut();
    await passwordSignIn(page, base, 'bob');
    await page.waitForURL(/\/ui\/account/);
    await page.click('#totp-start');
    const secret = await page.locator('#totp-secret').inputValue();
    await page.fill('#totp-code', pyotp(secret));
    await page.click('#totp-confirm');
    await page.locator('#recovery-codes').waitFor();
    await signedOut();
    await passwordSignIn(page, base, 'bob');
    await page.locator('#otp-field').waitFor({ state: 'visible' });
    // The confirmation spent this time step's code: the next step's is accepted.
    await page.fill('#otp', pyotp(secret, 1));
    await page.click('#login-button');
    await page.waitForURL(/\/ui\/account/);
  });
}

main().then(() => { log(`passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`); finish(0); }, (e) => {
  console.error(e.stack || e);
  finish(1);
});
