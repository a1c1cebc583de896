// Second factors on the pages: enrolling an authenticator app (secret, QR code,
// first code) and showing recovery codes once. Used by the account page and by
// the sign-in page (a role that must enroll first, with its enrollment token).

import { api, el, showMessage, errorText, busy } from './common.js';

/** The pending secret's QR code as an inline <svg> (parsed, never innerHTML). */
async function qrCode(bearer) {
  const res = await api('GET', '/users/me/mfa/totp/qr', null, { bearer });
  if (res.status !== 200 || typeof res.data !== 'string') return null;
  const doc = new DOMParser().parseFromString(res.data, 'image/svg+xml');
  const svg = doc.documentElement;
  if (!svg || svg.nodeName !== 'svg') return null;
  const node = document.importNode(svg, true);
  node.setAttribute('role', 'img');
  node.setAttribute('aria-label', 'QR code for your authenticator app');
  node.setAttribute('class', 'qr');
  return node;
}

/** Ten recovery codes, with a copy button: shown once, so say so. */
export function recoveryCodes(codes) {
  const text = codes.join('\n');
  const copy = el('button', { type: 'button', class: 'secondary', onclick: async (ev) => {
    try { await navigator.clipboard.writeText(text); ev.currentTarget.textContent = 'Copied'; } catch { /* select by hand */ }
  } }, 'Copy codes');
  return el('div', { class: 'secret', id: 'recovery-codes' },
    el('p', null, el('strong', null, 'Recovery codes')),
    el('p', { class: 'hint' }, 'Each works once instead of a code from your app, if you lose your phone. Keep them somewhere safe: they will not be shown again.'),
    el('ol', { class: 'codes' }, codes.map((c) => el('li', null, el('code', null, c)))),
    el('div', { class: 'actions' }, copy));
}

/**
 * Renders authenticator-app enrollment into `box`: starts it, shows the QR code
 * and the secret, and confirms the first code. `onDone(codes)` gets the recovery
 * codes. `bearer`: an enrollment token (the sign-in page), else the session.
 */
export async function enrollTotp(box, { bearer = null, onDone }) {
  const msg = el('p', { class: 'msg', role: 'status', 'aria-live': 'polite' });
  box.replaceChildren(msg);
  showMessage(msg, 'Preparing…', 'info');
  const res = await api('POST', '/users/me/mfa/totp', {}, { bearer });
  if (res.status !== 200) return showMessage(msg, errorText(res), 'error');
  const qr = await qrCode(bearer);
  const code = el('input', { id: 'totp-code', name: 'code', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]{6,7}', maxlength: '7', required: true });
  const confirm = el('button', { type: 'submit', class: 'primary', id: 'totp-confirm' }, 'Turn on');
  const form = el('form', { id: 'totp-form' },
    el('p', null, 'Scan this with your authenticator app (or type the key), then enter the six-digit code it shows.'),
    qr,
    el('div', { class: 'field' }, el('label', { for: 'totp-secret' }, 'Key'),
      el('input', { id: 'totp-secret', type: 'text', readonly: true, value: res.data.secret, spellcheck: 'false' })),
    el('div', { class: 'field' }, el('label', { for: 'totp-code' }, 'Code from the app'), code),
    el('div', { class: 'actions' }, confirm));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(confirm, async () => {
      const r = await api('POST', '/users/me/mfa/totp/confirm', { code: code.value.trim() }, { bearer });
      if (r.status === 200) {
        showMessage(msg, 'Your authenticator app is on.', 'success');
        form.remove();
        onDone(r.data.recovery_codes);
        return;
      }
      showMessage(msg, r.status === 400 ? 'That code did not match. Check the time on your phone and try the next code.' : errorText(r), 'error');
      code.select();
    });
  });
  box.append(form);
  showMessage(msg, '');
  code.focus();
}
