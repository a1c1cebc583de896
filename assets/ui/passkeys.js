// Passkeys on the pages: the browser's WebAuthn calls with the server's JSON
// options (binary members in base64url), the answers turned back into JSON, and
// the account page's list (rename, remove) with its "Add a passkey" button.
// Used by the account page and by the sign-in page (password-less, or the
// second step after a password).

import { api, el, showMessage, errorText, busy, timeEl } from './common.js';

/** Whether this browser can use passkeys at all. */
export const supported = () => typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;

const bytes = (s) => {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
};
const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const descriptor = (d) => ({ ...d, id: bytes(d.id) });

function credentialJSON(c) {
  if (typeof c.toJSON === 'function') return c.toJSON();
  const r = c.response;
  const response = { clientDataJSON: b64(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64(r.attestationObject);
    response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
  } else {
    response.authenticatorData = b64(r.authenticatorData);
    response.signature = b64(r.signature);
    response.userHandle = r.userHandle ? b64(r.userHandle) : null;
  }
  return { id: c.id, rawId: b64(c.rawId), type: c.type, response, clientExtensionResults: c.getClientExtensionResults() };
}

/** Asks the authenticator for an assertion: the answer as JSON, or null (cancelled). */
export async function assertion() {
  const res = await api('POST', '/auth/passkey/options', {}, { noRefresh: true });
  if (res.status !== 200) throw new Error(errorText(res));
  const o = res.data;
  const publicKey = { ...o, challenge: bytes(o.challenge), allowCredentials: (o.allowCredentials || []).map(descriptor) };
  try {
    return credentialJSON(await navigator.credentials.get({ publicKey }));
  } catch (e) {
    if (e && e.name === 'NotAllowedError') return null;
    throw e;
  }
}

/** Registers a new passkey named `name`; the server's answer (`{passkey, recovery_codes}`). */
export async function register(name, { bearer = null } = {}) {
  const res = await api('POST', '/users/me/mfa/passkeys/options', {}, { bearer });
  if (res.status !== 200) throw new Error(errorText(res));
  const o = res.data;
  const publicKey = {
    ...o,
    challenge: bytes(o.challenge),
    user: { ...o.user, id: bytes(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map(descriptor),
  };
  const created = await navigator.credentials.create({ publicKey });
  const body = { credential: credentialJSON(created) };
  if (name) body.name = name;
  const done = await api('POST', '/users/me/mfa/passkeys', body, { bearer });
  if (done.status !== 201) throw new Error(errorText(done));
  return done.data;
}

function passkeyRow(p, { msg, reload }) {
  const rename = el('button', { type: 'button', class: 'secondary', onclick: (ev) => busy(ev.currentTarget, async () => {
    const name = window.prompt('New name for this passkey', p.name);
    if (name === null) return;
    const r = await api('PATCH', '/users/me/mfa/passkeys/' + p.id, { name });
    showMessage(msg, r.status === 200 ? 'Passkey renamed.' : errorText(r), r.status === 200 ? 'success' : 'error');
    reload();
  }) }, 'Rename');
  const remove = el('button', { type: 'button', class: 'danger', onclick: (ev) => busy(ev.currentTarget, async () => {
    const r = await api('DELETE', '/users/me/mfa/passkeys/' + p.id);
    showMessage(msg, r.status === 204 ? 'Passkey removed.' : errorText(r), r.status === 204 ? 'success' : 'error');
    reload();
  }) }, 'Remove');
  return el('li', { class: 'passkey', 'data-id': p.id },
    el('strong', null, p.name), ' ', el('span', { class: 'hint' }, p.algorithm, ' · added ', timeEl(p.created_at),
      ' · last used ', timeEl(p.last_used_at, 'never')),
    el('span', { class: 'actions' }, rename, remove));
}

/**
 * The account page's passkey list in `box`, with an "Add a passkey" form.
 * `onCodes(codes)`: recovery codes made with a first second factor.
 */
export async function passkeyList(box, { msg, onChange, onCodes }) {
  const reload = () => { passkeyList(box, { msg, onChange, onCodes }); onChange(); };
  const res = await api('GET', '/users/me/mfa/passkeys');
  if (res.status !== 200) return showMessage(msg, errorText(res), 'error');
  const name = el('input', { id: 'passkey-name', name: 'name', type: 'text', maxlength: '64', placeholder: 'e.g. Laptop' });
  const add = el('button', { type: 'submit', class: 'primary', id: 'passkey-add' }, 'Add a passkey');
  const form = el('form', { id: 'passkey-form' },
    el('div', { class: 'field' }, el('label', { for: 'passkey-name' }, 'Name for a new passkey (optional)'), name),
    el('div', { class: 'actions' }, add));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(add, async () => {
      try {
        const done = await register(name.value.trim());
        showMessage(msg, 'Passkey \u201c' + done.passkey.name + '\u201d added.', 'success');
        if (done.recovery_codes.length) onCodes(done.recovery_codes);
        reload();
      } catch (e) {
        showMessage(msg, e && e.name === 'NotAllowedError' ? 'No passkey was made (cancelled or timed out).' : String(e.message || e), 'error');
      }
    });
  });
  if (!supported()) add.disabled = true;
  const list = res.data.length
    ? el('ul', { class: 'passkeys', id: 'passkey-list' }, res.data.map((p) => passkeyRow(p, { msg, reload })))
    : el('p', { class: 'hint', id: 'passkey-list' }, 'No passkeys yet.');
  box.replaceChildren(el('h3', null, 'Passkeys'), list, form);
}
