// A person's browser reduced to what the authorization code flow needs, over plain
// HTTP (no JavaScript, no Chromium): a cookie jar for gatehouse's origin, manual
// redirects, the sign-in form (POST /ui/login) and the consent form (POST
// /oidc/consent, "Allow"), posted with the Origin and Sec-Fetch-Site a browser
// sends. It never contacts anything but gatehouse: when gatehouse sends it to the
// client's redirect URI it stops there and hands the URL back, as a browser would
// hand it to the relying party. Used by openid-client.mjs (the Python relying party
// has the same in authlib_rp.py).

const HOPS = 12; // redirects and forms one authorization may take
const TIMEOUT = 10_000; // any one request

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };
const unescape = (s) => s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e) => ENTITIES[e]);

/** The hidden inputs of an HTML page, name → value. */
export function hiddenInputs(html) {
  const out = {};
  for (const tag of html.match(/<input\b[^>]*>/g) || []) {
    const attr = (n) => (new RegExp(`\\s${n}="([^"]*)"`).exec(tag) || [])[1];
    if (attr('type') === 'hidden' && attr('name') !== undefined) out[unescape(attr('name'))] = unescape(attr('value') ?? '');
  }
  return out;
}

export class Browser {
  /** @param {string} origin gatehouse's origin (its issuer) */
  constructor(origin, user, password) {
    this.origin = new URL(origin).origin;
    this.user = user;
    this.password = password;
    this.jar = new Map();
    this.trace = [];
  }

  hasSession() {
    return this.jar.has('gatehouse_session');
  }

  keep(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const gone = value === '' || attrs.some((a) => /^max-age=(0|-)/i.test(a));
      if (gone) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  /** One request to gatehouse; redirects are not followed. */
  async request(url, { method = 'GET', form } = {}) {
    const u = new URL(url, this.origin);
    if (u.origin !== this.origin) throw new Error(`the browser was about to leave gatehouse for ${u.href}`);
    const headers = { accept: 'text/html' };
    if (this.jar.size) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = this.origin;
      headers['sec-fetch-site'] = 'same-origin';
    }
    const res = await fetch(u, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT) });
    this.keep(res);
    const text = await res.text();
    this.trace.push(`${method} ${u.pathname} → ${res.status}`);
    const location = res.headers.get('location');
    return { status: res.status, url: u, text, location: location && new URL(location, u) };
  }

  /**
   * Follows an authorization request as a person would: signs in when asked,
   * allows on the consent page, until gatehouse sends the browser to `redirectUri`.
   * Returns that URL and which pages were shown on the way.
   */
  async authorize(authUrl, redirectUri) {
    const back = new URL(redirectUri);
    const shown = { signIn: false, consent: false, consentText: '' };
    let next = { url: authUrl };
    for (let hop = 0; hop < HOPS; hop++) {
      const r = await this.request(next.url, next);
      if ((r.status === 302 || r.status === 303) && r.location) {
        if (r.location.origin === back.origin && r.location.pathname === back.pathname) {
          return { callback: r.location, ...shown };
        }
        next = { url: r.location };
      } else if (r.status === 200 && r.url.pathname === '/ui/login') {
        for (const want of ['>Username<', '>Password<', '>Sign in<']) {
          if (!r.text.includes(want)) throw new Error(`the sign-in page lacks ${want}`);
        }
        shown.signIn = true;
        const rd = hiddenInputs(r.text).rd ?? '';
        next = { url: '/ui/login', method: 'POST', form: { username: this.user, password: this.password, rd } };
      } else if (r.status === 200 && r.text.includes('action="/oidc/consent"')) {
        if (!r.text.includes('>Allow<') || !r.text.includes('>Deny<')) throw new Error('the consent page lacks Allow or Deny');
        shown.consent = true;
        shown.consentText = r.text;
        next = { url: '/oidc/consent', method: 'POST', form: { ...hiddenInputs(r.text), decision: 'allow' } };
      } else {
        throw new Error(`unexpected ${r.status} at ${r.url.pathname}: ${r.text.slice(0, 300)}\n${this.trace.join('\n')}`);
      }
    }
    throw new Error(`no way back to the client after ${HOPS} steps:\n${this.trace.join('\n')}`);
  }
}
