// Relying parties built on npm's openid-client (OpenID Certified) against a running
// gatehouse: the current major (6, on oauth4webapi) and the long-lived 5 (whose
// callback() also checks at_hash). Run by openid-client.sh, which starts gatehouse,
// registers the clients and writes the configuration this reads:
//
//   node openid-client.mjs CONFIG.json
//
// For each client: discovery; code + PKCE S256 with state and nonce through the
// sign-in and consent pages (browser.mjs); the library's own checks of the
// authorization response (state, RFC 9207 iss) and of the ID token (signature from
// the JWKS, iss, aud, azp, exp, nonce, and at_hash in 5); UserInfo; refresh; a
// spent refresh token refused with 400 invalid_grant, and the rotated one with it;
// then a second sign-in and RP-initiated logout back to the registered URI, after
// which the browser must sign in again. Where the library refuses something on
// the client's side (a wrong iss: the mix-up attack; a wrong state; a forged ID
// token signature) that is shown too. The trust in gatehouse's local CA comes from
// NODE_EXTRA_CA_CERTS. Prints "ok - ..." / "not ok - ..."; exits 1 on a failure.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import * as v6 from 'openid-client';
import * as v5 from 'openid-client-v5';
import { Browser } from './browser.mjs';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const SCOPE = 'openid profile email offline_access';
let failed = 0;

const watchdog = setTimeout(() => {
  console.log('not ok - openid-client: the run took over 120 s');
  process.exit(1);
}, 120_000);

const ok = (what) => console.log(`ok - ${what}`);
function notOk(what, err) {
  failed++;
  console.log(`not ok - ${what}`);
  console.log(String(err?.stack || err).split('\n').map((l) => `#   ${l}`).join('\n'));
}

/** An error's message and those of its causes. */
function why(err) {
  const out = [];
  for (let e = err, i = 0; e && i < 5; e = e.cause, i++) out.push(e.message ?? String(e));
  return out.join(': ');
}

/** `promise` must reject, and `test(err, why(err))` must hold for the error. */
async function refuses(what, promise, test) {
  try {
    await promise;
  } catch (err) {
    if (test(err, why(err))) return ok(what);
    throw new Error(`${what}: refused, but not as expected: ${err?.stack || err}`);
  }
  throw new Error(`${what}: was accepted`);
}

/** at_hash by OpenID Connect Core 3.1.3.6: the left half of the alg's hash, base64url. */
function atHash(token, alg) {
  const hash = { RS256: 'sha256', ES256: 'sha256', EdDSA: 'sha512' }[alg];
  const d = crypto.createHash(hash).update(token).digest();
  return d.subarray(0, d.length / 2).toString('base64url');
}

const header = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url'));

/** What every ID token of alice must say; `c` is the client. */
function checkIdToken(c, jwt, claims, nonce, accessToken) {
  assert.equal(header(jwt).alg, c.alg, 'alg');
  assert.equal(claims.iss, cfg.issuer);
  assert.deepEqual([claims.aud].flat(), [c.client_id]);
  assert.equal(claims.azp, c.client_id);
  if (nonce !== undefined) assert.equal(claims.nonce, nonce);
  assert.match(claims.sub, /^\S+$/);
  for (const k of ['exp', 'iat', 'auth_time']) assert.equal(typeof claims[k], 'number', k);
  assert.ok(claims.auth_time <= claims.iat && claims.iat < claims.exp);
  assert.deepEqual(claims.amr, ['pwd']);
  assert.equal(claims.at_hash, atHash(accessToken, c.alg), 'at_hash');
}

function checkUserInfo(ui, sub) {
  assert.equal(ui.sub, sub);
  assert.equal(ui.preferred_username, cfg.user.username);
  assert.equal(ui.name, cfg.user.name);
  assert.equal(ui.email, cfg.user.email);
  assert.equal(typeof ui.email_verified, 'boolean');
  assert.equal(ui.role, cfg.user.role);
}

/** The sign-in (and consent) on the way to the client; `first`: alice's first visit to it. */
function checkPages(c, a, first) {
  assert.ok(a.signIn, 'the sign-in page was shown');
  if (c.trusted || !first) {
    assert.ok(!a.consent, c.trusted ? 'a trusted client skips consent' : 'consent is remembered');
  } else {
    assert.ok(a.consent, 'an untrusted client asks for consent');
    assert.ok(a.consentText.includes(c.name), 'the consent page names the client');
  }
}

/** Following an end-session URL signs the browser out and lands on the registered URI. */
async function checkLogout(c, b, endSessionUrl, state, authUrl) {
  const r = await b.request(endSessionUrl);
  assert.equal(r.status, 302, `end session: ${r.status} ${r.text.slice(0, 200)}`);
  assert.equal(r.location.href, `${c.post_logout_redirect_uri}?state=${state}`);
  assert.ok(!b.hasSession(), 'the session cookie is cleared');
  const again = await b.request(authUrl);
  assert.equal(again.status, 302);
  assert.equal(again.location.pathname, '/ui/login', 'signed out: the next authorization asks to sign in');
}

// ------------------------------------------------------------ openid-client 6

async function flow6(c) {
  const label = `openid-client 6, ${c.label}`;
  const auth = c.auth === 'none' ? v6.None() : v6.ClientSecretPost(c.client_secret);
  const meta = { id_token_signed_response_alg: c.alg };
  const config = await v6.discovery(new URL(cfg.issuer), c.client_id, meta, auth, { timeout: 10 });
  v6.enableNonRepudiationChecks(config); // verify ID token signatures with the JWKS
  ok(`${label}: discovery`);

  const start = async () => {
    const verifier = v6.randomPKCECodeVerifier();
    const checks = { pkceCodeVerifier: verifier, expectedState: v6.randomState(), expectedNonce: v6.randomNonce() };
    const url = v6.buildAuthorizationUrl(config, {
      redirect_uri: c.redirect_uri,
      scope: SCOPE,
      code_challenge: await v6.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: checks.expectedState,
      nonce: checks.expectedNonce,
    });
    return { url, checks: { ...checks, idTokenExpected: true } };
  };

  const b = new Browser(cfg.issuer, cfg.user.username, cfg.user.password);
  const s = await start();
  const a = await b.authorize(s.url, c.redirect_uri);
  checkPages(c, a, true);
  ok(`${label}: sign-in${c.trusted ? '' : ', consent'} and back to the redirect URI with a code`);

  // The library refuses a doctored authorization response before spending the code.
  const swap = (k, v) => {
    const u = new URL(a.callback);
    if (v === undefined) u.searchParams.delete(k);
    else u.searchParams.set(k, v);
    return u;
  };
  await refuses(`${label} refuses an authorization response from another issuer (mix-up, RFC 9207 iss)`,
    v6.authorizationCodeGrant(config, swap('iss', 'https://attacker.example'), s.checks), (_, m) => /"iss"/.test(m));
  await refuses(`${label} refuses an authorization response without iss (discovery promises it)`,
    v6.authorizationCodeGrant(config, swap('iss'), s.checks), (_, m) => /"iss"/.test(m));
  await refuses(`${label} refuses an authorization response with another state`,
    v6.authorizationCodeGrant(config, swap('state', 'forged'), s.checks), (_, m) => /"state"/.test(m));

  const tokens = await v6.authorizationCodeGrant(config, a.callback, s.checks);
  const claims = tokens.claims();
  checkIdToken(c, tokens.id_token, claims, s.checks.expectedNonce, tokens.access_token);
  assert.equal(tokens.scope, SCOPE);
  assert.ok(tokens.refresh_token, 'offline_access brings a refresh token');
  ok(`${label}: code + PKCE exchanged; ID token verified (${c.alg} from the JWKS, iss, aud, azp, nonce, exp; at_hash checked here)`);

  const ui = await v6.fetchUserInfo(config, tokens.access_token, claims.sub);
  checkUserInfo(ui, claims.sub);
  ok(`${label}: UserInfo (sub matches; preferred_username, name, email, email_verified, role)`);

  const fresh = await v6.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(fresh.refresh_token, tokens.refresh_token, 'the refresh token rotates');
  checkIdToken(c, fresh.id_token, fresh.claims(), undefined, fresh.access_token);
  assert.equal(fresh.claims().sub, claims.sub);
  checkUserInfo(await v6.fetchUserInfo(config, fresh.access_token, claims.sub), claims.sub);
  ok(`${label}: refresh (rotated refresh token, new verified ID token, new access token works)`);

  const grantError = (e) => e instanceof v6.ResponseBodyError && e.status === 400 && e.error === 'invalid_grant';
  await refuses(`${label}: the spent refresh token is refused (400 invalid_grant)`,
    v6.refreshTokenGrant(config, tokens.refresh_token), grantError);
  await refuses(`${label}: ...and the reuse revoked the rotated one too (400 invalid_grant)`,
    v6.refreshTokenGrant(config, fresh.refresh_token), grantError);

  // A forged ID token: the token response's signature altered on its way in.
  const forged = await v6.discovery(new URL(cfg.issuer), c.client_id, meta, auth, {
    timeout: 10,
    [v6.customFetch]: async (url, options) => {
      const res = await fetch(url, options);
      if (!url.toString().endsWith('/api/v1/auth/token')) return res;
      const body = await res.json();
      const [h, p, sig] = body.id_token.split('.');
      body.id_token = `${h}.${p}.${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`;
      return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
    },
  });
  v6.enableNonRepudiationChecks(forged);
  const b2 = new Browser(cfg.issuer, cfg.user.username, cfg.user.password);
  const s2 = await start();
  const a2 = await b2.authorize(s2.url, c.redirect_uri);
  await refuses(`${label} refuses an ID token whose signature does not verify with the JWKS`,
    v6.authorizationCodeGrant(forged, a2.callback, s2.checks), (_, m) => /signature/i.test(m));

  // Logout, from a fresh sign-in (the reuse above ended every session of alice).
  const b3 = new Browser(cfg.issuer, cfg.user.username, cfg.user.password);
  const s3 = await start();
  const a3 = await b3.authorize(s3.url, c.redirect_uri);
  checkPages(c, a3, false);
  const t3 = await v6.authorizationCodeGrant(config, a3.callback, s3.checks);
  const state = v6.randomState();
  const end = v6.buildEndSessionUrl(config, {
    id_token_hint: t3.id_token,
    post_logout_redirect_uri: c.post_logout_redirect_uri,
    state,
  });
  await checkLogout(c, b3, end, state, (await start()).url);
  ok(`${label}: RP-initiated logout with id_token_hint: 302 to the registered URI with state, signed out`);
}

// ------------------------------------------------------------ openid-client 5

async function flow5(c) {
  const label = `openid-client 5, ${c.label}`;
  v5.custom.setHttpOptionsDefaults({ timeout: 10_000 });
  const issuer = await v5.Issuer.discover(cfg.issuer);
  assert.equal(issuer.issuer, cfg.issuer);
  const client = new issuer.Client({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: [c.redirect_uri],
    post_logout_redirect_uris: [c.post_logout_redirect_uri],
    response_types: ['code'],
    token_endpoint_auth_method: c.auth,
    id_token_signed_response_alg: c.alg,
  });
  ok(`${label}: Issuer.discover`);

  const start = () => {
    const checks = { code_verifier: v5.generators.codeVerifier(), state: v5.generators.state(), nonce: v5.generators.nonce() };
    const url = client.authorizationUrl({
      scope: SCOPE,
      code_challenge: v5.generators.codeChallenge(checks.code_verifier),
      code_challenge_method: 'S256',
      state: checks.state,
      nonce: checks.nonce,
    });
    return { url, checks };
  };

  const b = new Browser(cfg.issuer, cfg.user.username, cfg.user.password);
  const s = start();
  const a = await b.authorize(s.url, c.redirect_uri);
  checkPages(c, a, true);
  ok(`${label}: sign-in${c.trusted ? '' : ', consent'} and back to the redirect URI with a code`);

  const params = client.callbackParams(a.callback.href);
  await refuses(`${label} refuses an authorization response from another issuer (mix-up, RFC 9207 iss)`,
    client.callback(c.redirect_uri, { ...params, iss: 'https://attacker.example' }, s.checks), (e) => /iss mismatch/.test(e.message));
  await refuses(`${label} refuses an authorization response with another state`,
    client.callback(c.redirect_uri, params, { ...s.checks, state: 'forged' }), (e) => /state mismatch/.test(e.message));

  // callback(): PKCE verifier sent; signature (JWKS), iss, aud, azp, exp, nonce, at_hash checked.
  const ts = await client.callback(c.redirect_uri, params, s.checks);
  const claims = ts.claims();
  checkIdToken(c, ts.id_token, claims, s.checks.nonce, ts.access_token);
  assert.ok(ts.refresh_token, 'offline_access brings a refresh token');
  ok(`${label}: callback() with PKCE; ID token verified by the library (${c.alg} from the JWKS, iss, aud, azp, nonce, exp, at_hash)`);

  checkUserInfo(await client.userinfo(ts), claims.sub);
  ok(`${label}: userinfo() (sub matches; preferred_username, name, email, email_verified, role)`);

  const fresh = await client.refresh(ts);
  assert.notEqual(fresh.refresh_token, ts.refresh_token, 'the refresh token rotates');
  checkIdToken(c, fresh.id_token, fresh.claims(), undefined, fresh.access_token);
  checkUserInfo(await client.userinfo(fresh.access_token), claims.sub);
  ok(`${label}: refresh() (rotated refresh token, ID token verified, same sub, new access token works)`);

  const grantError = (e) => e instanceof v5.errors.OPError && e.error === 'invalid_grant' && e.response?.statusCode === 400;
  await refuses(`${label}: the spent refresh token is refused (400 invalid_grant)`, client.refresh(ts.refresh_token), grantError);
  await refuses(`${label}: ...and the reuse revoked the rotated one too (400 invalid_grant)`,
    client.refresh(fresh.refresh_token), grantError);

  const b3 = new Browser(cfg.issuer, cfg.user.username, cfg.user.password);
  const s3 = start();
  const a3 = await b3.authorize(s3.url, c.redirect_uri);
  checkPages(c, a3, false);
  const t3 = await client.callback(c.redirect_uri, client.callbackParams(a3.callback.href), s3.checks);
  const state = v5.generators.state();
  const end = client.endSessionUrl({ id_token_hint: t3.id_token, post_logout_redirect_uri: c.post_logout_redirect_uri, state });
  await checkLogout(c, b3, end, state, start().url);
  ok(`${label}: endSessionUrl() with id_token_hint: 302 to the registered URI with state, signed out`);
}

for (const c of cfg.clients) {
  try {
    await (c.lib === '5' ? flow5 : flow6)(c);
  } catch (err) {
    notOk(`openid-client ${c.lib}, ${c.label}: the flow stopped`, err);
  }
}
clearTimeout(watchdog);
process.exit(failed ? 1 : 0);
