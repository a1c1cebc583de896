// Shared helpers for the gatehouse pages: the API wrapper (CSRF, refresh), DOM
// building without innerHTML, messages, dates and the signed-in header.

const API = '/api/v1';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
// Endpoints where a 401 is an answer, not an expired session.
const NO_REFRESH = /^\/api\/v1\/(auth\/(login|refresh|token)|setup)\b/;

export function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return '';
}

function send(method, url, body, form, bearer) {
  const headers = { Accept: 'application/json' };
  if (bearer) headers.Authorization = 'Bearer ' + bearer;
  let payload;
  if (body !== undefined && body !== null) {
    if (form) {
      payload = new URLSearchParams(body);
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
  }
  if (UNSAFE.has(method)) {
    const csrf = cookie('csrf_token');
    if (csrf) headers['X-CSRF-Token'] = csrf;
  }
  return fetch(url, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
}

// One refresh at a time, across tabs too: a second use of the same refresh token
// counts as reuse and revokes every session. Parallel 401s in this tab share one
// refresh; other tabs wait on a Web Lock, and whoever gets it first refreshes.
// The csrf_token cookie changes with every refresh, so a caller that sees it
// differ from what its failed request carried knows someone else has refreshed
// already and only retries.
let refreshing = null;
export function refreshSession(csrfSeen = cookie('csrf_token')) {
  if (!refreshing) {
    const run = async () => {
      if (cookie('csrf_token') !== csrfSeen) return true;
      try {
        const r = await send('POST', API + '/auth/refresh');
        return r.ok;
      } catch {
        return false;
      }
    };
    const locked = navigator.locks ? navigator.locks.request('gatehouse-refresh', run) : run();
    refreshing = locked.finally(() => { refreshing = null; });
  }
  return refreshing;
}

export function toLogin(reason = 'expired') {
  const rd = location.pathname + location.search;
  location.assign('/ui/login?rd=' + encodeURIComponent(rd) + (reason ? '&reason=' + reason : ''));
  return new Promise(() => {}); // the page is going away
}

async function parse(res) {
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return text; }
}

/**
 * Calls the API. `path` is "/api/..." or relative to /api/v1 ("/users/me").
 * Resolves to {status, data, headers}; status 0 is a network failure. With
 * `bearer` (an enrollment token) the cookies do not count and a 401 is an answer.
 */
export async function api(method, path, body, { form = false, noRefresh = false, bearer = null } = {}) {
  const url = path.startsWith('/api/') ? path : API + path;
  const skip = noRefresh || bearer || NO_REFRESH.test(url);
  for (let attempt = 0; ; attempt++) {
    const csrfSent = cookie('csrf_token');
    let res;
    try {
      res = await send(method, url, body, form, bearer);
    } catch {
      return { status: 0, data: { detail: 'Could not reach the server. Check your connection and try again.' }, headers: new Headers() };
    }
    if (res.status === 401 && !skip) {
      if (attempt === 0 && (await refreshSession(csrfSent))) continue;
      // "Expired" only if there was a session (its CSRF cookie outlives the
      // access cookie); a first visit just goes to the sign-in page.
      return toLogin(cookie('csrf_token') ? 'expired' : '');
    }
    return { status: res.status, data: await parse(res), headers: res.headers };
  }
}

/** A readable message from an error response. */
export function errorText(res) {
  const d = res && res.data;
  let text;
  if (d && typeof d.detail === 'string') text = d.detail;
  else if (d && Array.isArray(d.detail)) text = d.detail.map((e) => fieldName(e) + (e.msg || 'invalid')).join(' ');
  else if (typeof d === 'string' && d && d.length < 200) text = d;
  else text = 'Request failed (HTTP ' + (res ? res.status : '?') + ').';
  const wait = res && res.status === 429 && retryAfter(res);
  if (wait) text += ' Try again in ' + wait + ' seconds.';
  return text;
}

function fieldName(e) {
  const loc = Array.isArray(e.loc) ? e.loc.filter((x) => x !== 'body' && x !== 'query') : [];
  return loc.length ? loc.join('.') + ': ' : '';
}

export function retryAfter(res) {
  const v = res.headers.get('Retry-After');
  const n = v ? parseInt(v, 10) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

/** Builds an element. attrs: class, on* listeners, boolean/property values, plain attributes. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'readOnly') node[k] = v;
    else if (k === 'style') throw new Error('no inline styles');
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : String(c));
  }
}

export const $ = (id) => document.getElementById(id);

const FULL = { dateStyle: 'medium', timeStyle: 'short' };
export function formatDate(value, empty = '—', style = FULL) {
  if (!value) return empty;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(undefined, style);
}

/** A <time> element (full date and time in its title), or `empty`. */
export function timeEl(value, empty, style) {
  return value ? el('time', { datetime: value, title: style ? formatDate(value) : null }, formatDate(value, '', style)) : (empty || '—');
}

/** Sets the text of an aria-live region; kind: info | success | error. */
export function showMessage(region, text, kind = 'info') {
  if (typeof region === 'string') region = $(region);
  if (!region) return;
  region.classList.remove('msg-info', 'msg-success', 'msg-error');
  region.classList.add('msg');
  if (text) region.classList.add('msg-' + kind);
  region.textContent = text || '';
}

/** Puts each 422 item next to the form field its loc names; returns the rest. */
export function showFieldErrors(form, detail) {
  clearFieldErrors(form);
  const rest = [];
  for (const e of Array.isArray(detail) ? detail : []) {
    const name = Array.isArray(e.loc) ? e.loc[e.loc.length - 1] : '';
    const input = typeof name === 'string' && name ? form.querySelector('[name="' + CSS.escape(name) + '"]') : null;
    if (!input || input.type === 'checkbox') { rest.push(fieldName(e) + (e.msg || 'invalid')); continue; }
    fieldError(input, e.msg || 'Invalid value');
  }
  return rest;
}

export function fieldError(input, text) {
  const id = input.id + '-error';
  let p = document.getElementById(id);
  if (p) p.textContent += ' ' + text;
  else input.after(el('p', { class: 'field-error', id }, text));
  input.setAttribute('aria-invalid', 'true');
  const ids = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
  if (!ids.includes(id)) input.setAttribute('aria-describedby', [id, ...ids].join(' '));
}

export function clearFieldErrors(form) {
  form.querySelectorAll('.field-error').forEach((p) => p.remove());
  form.querySelectorAll('[aria-invalid]').forEach((i) => {
    i.removeAttribute('aria-invalid');
    const ids = (i.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== i.id + '-error');
    if (ids.length) i.setAttribute('aria-describedby', ids.join(' '));
    else i.removeAttribute('aria-describedby');
  });
}

/** Disables a button while `fn` runs. */
export async function busy(button, fn) {
  if (button) button.disabled = true;
  try { return await fn(); } finally { if (button) button.disabled = false; }
}

export const isAdmin = (user) => user && (user.role === 'admin' || user.role === 'super_admin');

/** Loads the signed-in user (or goes to the login page) and fills the header. */
export async function requireUser() {
  const res = await api('GET', '/users/me');
  if (res.status !== 200 || !res.data) {
    showMessage('page-msg', errorText(res), 'error');
    throw new Error('no user');
  }
  const user = res.data;
  const who = $('whoami');
  if (who) who.textContent = 'Signed in as ' + user.username;
  const admin = $('nav-admin');
  if (admin) admin.hidden = !isAdmin(user);
  const out = $('signout');
  if (out) out.addEventListener('click', () => busy(out, async () => {
    await api('POST', '/auth/logout');
    location.assign('/ui/login?reason=signed-out');
  }));
  return user;
}

/** "Chrome 120 on Windows" from a User-Agent header. */
export function shortUA(ua) {
  if (!ua) return 'Unknown device';
  const b = [['Edg', 'Edge'], ['OPR', 'Opera'], ['Firefox', 'Firefox'], ['FxiOS', 'Firefox'], ['CriOS', 'Chrome'],
    ['Chrome', 'Chrome'], ['Version', 'Safari'], ['curl', 'curl'], ['python-requests', 'Python requests']]
    .map(([k, n]) => { const m = new RegExp(k + '/(\\d+)').exec(ua); return m && n + ' ' + m[1]; })
    .find(Boolean);
  const os = [['Windows', 'Windows'], ['Android', 'Android'], ['iPhone', 'iOS'], ['iPad', 'iPadOS'],
    ['CrOS', 'ChromeOS'], ['Mac OS X', 'macOS'], ['Linux', 'Linux']].find(([k]) => ua.includes(k));
  if (b) return os ? b + ' on ' + os[1] : b;
  const first = ua.split(' ')[0];
  return first.length > 40 ? first.slice(0, 40) + '…' : first;
}

/** A table row: each cell is a <td>/<th> or the content of a <td>. */
export function row(cells, attrs) {
  return el('tr', attrs, cells.map((c) => (c instanceof Element && /^T[DH]$/.test(c.tagName)) ? c : el('td', null, c)));
}
