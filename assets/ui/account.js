import {
  api, $, el, row, showMessage, showFieldErrors, clearFieldErrors, fieldError, errorText,
  busy, requireUser, timeEl, shortUA,
} from './common.js';
import { enrollTotp, recoveryCodes } from './mfa.js';
import { passkeyList } from './passkeys.js';

// The server's role -> scope map (src/domain/roles.rs), used when /users/me
// does not list the caller's scopes: what a sign-in on these pages carries, and so
// all a key made here can carry (never `introspect`, which a sign-in must ask for).
const BASE = ['profile:read', 'profile:write', 'posts:read', 'posts:write'];
const ROLE_SCOPES = {
  user: BASE,
  moderator: [...BASE, 'posts:delete', 'users:read'],
  admin: [...BASE, 'posts:delete', 'users:read', 'users:write', 'admin'],
};
ROLE_SCOPES.super_admin = ROLE_SCOPES.admin;
const scopeId = (s) => 'scope-' + s.replace(/[^a-z0-9]+/gi, '-');

function fillProfile(u) {
  $('profile-username').textContent = u.username;
  $('profile-role').textContent = u.role;
  $('profile-created').replaceChildren(timeEl(u.created_at));
  $('full-name').value = u.full_name || '';
  $('email').value = u.email || '';
  $('password-username').value = u.username;
}

function renderScopes(u) {
  const list = Array.isArray(u.scopes) ? u.scopes : ROLE_SCOPES[u.role] || ROLE_SCOPES.admin;
  $('scope-list').replaceChildren(...list.map((s) => el('div', { class: 'check' },
    el('input', { type: 'checkbox', id: scopeId(s), name: 'scopes', value: s }),
    el('label', { for: scopeId(s) }, s))));
}

// ---- Profile
const profileForm = $('profile-form');
profileForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  clearFieldErrors(profileForm);
  const msg = $('profile-msg');
  busy($('save-profile'), async () => {
    const res = await api('PUT', '/users/me', {
      full_name: $('full-name').value.trim(),
      email: $('email').value.trim(),
    });
    if (res.status === 200) {
      fillProfile(res.data);
      showMessage(msg, 'Profile saved.', 'success');
    } else if (res.status === 422) {
      const rest = showFieldErrors(profileForm, res.data && res.data.detail);
      showMessage(msg, ['Please correct the highlighted fields.', ...rest].join(' '), 'error');
    } else {
      showMessage(msg, errorText(res), 'error');
    }
  });
});

// ---- Password
const pwForm = $('password-form');
pwForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  clearFieldErrors(pwForm);
  const msg = $('password-msg');
  const cur = $('current-password');
  const next = $('new-password');
  const confirm = $('confirm-password');
  if (next.value !== confirm.value) {
    fieldError(confirm, 'The new passwords do not match.');
    showMessage(msg, 'The new passwords do not match.', 'error');
    confirm.focus();
    return;
  }
  busy($('change-password'), async () => {
    const res = await api('POST', '/auth/change-password', { current_password: cur.value, new_password: next.value });
    if (res.status === 200) {
      const keys = $('keys-body').rows.length;
      showMessage(msg, 'Password changed. Signing you out…', 'success');
      location.assign('/ui/login?reason=password-changed' + (keys ? '&keys=' + keys : ''));
      return;
    }
    if (res.status === 400) {
      fieldError(cur, errorText(res));
      showMessage(msg, errorText(res), 'error');
      cur.focus();
    } else if (res.status === 422) {
      const rest = showFieldErrors(pwForm, res.data && res.data.detail);
      showMessage(msg, ['The new password was refused.', ...rest].join(' '), 'error');
    } else {
      showMessage(msg, errorText(res), 'error');
    }
  });
});

// ---- API keys
const keyForm = $('key-form');
const keysMsg = $('keys-msg');

async function loadKeys() {
  const res = await api('GET', '/api-keys');
  if (res.status !== 200) return showMessage(keysMsg, errorText(res), 'error');
  const keys = Array.isArray(res.data) ? res.data : [];
  $('keys-body').replaceChildren(...keys.map(keyRow));
  $('keys-empty').hidden = keys.length > 0;
  $('keys-table').hidden = keys.length === 0;
}

function keyRow(k) {
  const cell = el('td', { class: 'row-actions' });
  const revoke = el('button', { type: 'button', id: 'revoke-key-' + k.id, class: 'danger', onclick: ask }, 'Revoke');
  function ask() {
    const yes = el('button', { type: 'button', id: 'confirm-revoke-key-' + k.id, class: 'danger', onclick: () => busy(yes, go) }, 'Confirm revoke');
    const no = el('button', { type: 'button', id: 'cancel-revoke-key-' + k.id, class: 'secondary', onclick: () => { cell.replaceChildren(revoke); revoke.focus(); } }, 'Cancel');
    cell.replaceChildren(el('span', { class: 'confirm-text' }, 'Revoke “' + k.name + '”?'), yes, no);
    yes.focus();
  }
  async function go() {
    const res = await api('DELETE', '/api-keys/' + encodeURIComponent(k.id));
    if (res.status === 200 || res.status === 204) showMessage(keysMsg, 'API key “' + k.name + '” revoked.', 'success');
    else showMessage(keysMsg, errorText(res), 'error');
    await loadKeys();
  }
  cell.append(revoke);
  return row([
    k.name, el('code', null, k.prefix + '…'), (k.scopes || []).join(' ') || '—',
    timeEl(k.created_at), timeEl(k.expires_at, 'Never'), timeEl(k.last_used_at, 'Never'), cell,
  ], { id: 'key-' + k.id });
}

keyForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  clearFieldErrors(keyForm);
  const body = { name: $('key-name').value.trim() };
  const scopes = [...keyForm.querySelectorAll('input[name="scopes"]:checked')].map((c) => c.value);
  if (scopes.length) body.scopes = scopes;
  const days = $('key-expiry').value.trim();
  if (days) body.expires_in = Math.round(Number(days) * 86400);
  busy($('create-key'), async () => {
    const res = await api('POST', '/api-keys', body);
    if (res.status === 201 || res.status === 200) {
      const secret = res.data.api_key || res.data.key || '';
      $('new-key-secret').value = secret;
      $('new-key').hidden = false;
      $('new-key-secret').focus();
      $('new-key-secret').select();
      keyForm.reset();
      showMessage(keysMsg, 'API key “' + body.name + '” created. Copy it now: it will not be shown again.', 'success');
      await loadKeys();
    } else if (res.status === 422) {
      const rest = showFieldErrors(keyForm, res.data && res.data.detail);
      showMessage(keysMsg, ['The key was not created.', ...rest].join(' '), 'error');
    } else {
      showMessage(keysMsg, errorText(res), 'error');
    }
  });
});

$('copy-key').addEventListener('click', async () => {
  const input = $('new-key-secret');
  try {
    await navigator.clipboard.writeText(input.value);
    showMessage(keysMsg, 'API key copied to the clipboard.', 'success');
  } catch {
    input.focus();
    input.select();
    showMessage(keysMsg, 'The key is selected: press Ctrl+C (⌘C on a Mac) to copy it.', 'info');
  }
});

$('dismiss-key').addEventListener('click', () => {
  $('new-key-secret').value = '';
  $('new-key').hidden = true;
  $('key-name').focus();
});

// ---- Sessions
const sessMsg = $('sessions-msg');

async function loadSessions() {
  const res = await api('GET', '/users/me/sessions');
  if (res.status !== 200) return showMessage(sessMsg, errorText(res), 'error');
  const list = Array.isArray(res.data) ? res.data : [];
  $('sessions-body').replaceChildren(...list.map(sessionRow));
}

function sessionRow(s) {
  const device = el('span', { title: s.user_agent || '' }, shortUA(s.user_agent));
  let action = '';
  if (!s.current) {
    const b = el('button', { type: 'button', id: 'revoke-session-' + s.id, class: 'danger' }, 'Revoke');
    b.addEventListener('click', () => busy(b, async () => {
      const res = await api('DELETE', '/users/me/sessions/' + encodeURIComponent(s.id));
      if (res.status === 200 || res.status === 204) showMessage(sessMsg, 'Session revoked.', 'success');
      else showMessage(sessMsg, errorText(res), 'error');
      await loadSessions();
    }));
    action = b;
  }
  return row([
    [device, s.current ? el('span', { class: 'tag', id: 'this-device' }, 'This device') : null,
      // On a phone the address column is hidden; it is shown under the device instead.
      el('span', { class: 'narrow-only hint' }, el('br'), s.ip_address || '')],
    s.ip_address || '—', timeEl(s.created_at), timeEl(s.last_used_at), el('td', { class: 'row-actions' }, action),
  ], { id: 'session-' + s.id, class: s.current ? 'current' : null });
}

$('signout-everywhere').addEventListener('click', (ev) => busy(ev.currentTarget, async () => {
  const res = await api('DELETE', '/users/me/sessions' + ($('signout-keys').checked ? '?include_api_keys=true' : ''));
  if (res.status === 200 || res.status === 204) location.assign('/ui/login?reason=signed-out');
  else showMessage(sessMsg, errorText(res), 'error');
}));

// ---- Two-step sign-in
const mfaMsg = $('mfa-msg');
const codeForm = $('mfa-code-form');

async function loadMfa() {
  const res = await api('GET', '/users/me/mfa');
  if (res.status !== 200) return showMessage(mfaMsg, errorText(res), 'error');
  const s = res.data;
  $('mfa-totp').textContent = s.totp ? 'On' : 'Off';
  $('mfa-recovery').textContent = s.totp || s.passkeys ? String(s.recovery_codes_left) : '—';
  $('mfa-required').hidden = !s.required;
  $('totp-start').hidden = s.totp;
  codeForm.hidden = !(s.totp || s.passkeys);
  $('totp-remove').hidden = !s.totp;
}

$('totp-start').addEventListener('click', (ev) => {
  ev.currentTarget.hidden = true;
  showMessage(mfaMsg, '');
  enrollTotp($('totp-box'), {
    onDone: (codes) => {
      $('recovery-box').replaceChildren(recoveryCodes(codes));
      loadMfa();
    },
  });
});

codeForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const remove = ev.submitter && ev.submitter.value === 'remove';
  const code = $('mfa-code').value.trim();
  busy(ev.submitter, async () => {
    const res = remove
      ? await api('DELETE', '/users/me/mfa/totp', { code })
      : await api('POST', '/users/me/mfa/recovery-codes', { code });
    $('mfa-code').value = '';
    if (res.status === 204) {
      showMessage(mfaMsg, 'The authenticator app is off. Signing in needs only your password now.', 'success');
      $('recovery-box').replaceChildren();
    } else if (res.status === 200) {
      showMessage(mfaMsg, 'New recovery codes: the old ones no longer work.', 'success');
      $('recovery-box').replaceChildren(recoveryCodes(res.data.recovery_codes));
    } else {
      showMessage(mfaMsg, res.status === 400 ? 'That code did not match, or was used already.' : errorText(res), 'error');
    }
    loadMfa();
  });
});
// ---- Connected applications (OpenID consents)
const appsMsg = $('apps-msg');

async function loadApps() {
  const res = await api('GET', '/users/me/consents');
  if (res.status !== 200) return showMessage(appsMsg, errorText(res), 'error');
  const list = Array.isArray(res.data) ? res.data : [];
  $('apps-body').replaceChildren(...list.map(appRow));
  $('apps-empty').hidden = list.length > 0;
  $('apps-table').hidden = list.length === 0;
}

function appRow(c) {
  const cell = el('td', { class: 'row-actions' });
  const withdraw = el('button', { type: 'button', id: 'withdraw-' + c.client_id, class: 'danger', onclick: ask }, 'Withdraw');
  function ask() {
    const yes = el('button', { type: 'button', class: 'danger', onclick: () => busy(yes, go) }, 'Confirm withdraw');
    const no = el('button', { type: 'button', class: 'secondary', onclick: () => { cell.replaceChildren(withdraw); withdraw.focus(); } }, 'Cancel');
    cell.replaceChildren(el('span', { class: 'confirm-text' }, 'Withdraw “' + c.client_name + '”?'), yes, no);
    yes.focus();
  }
  async function go() {
    const res = await api('DELETE', '/users/me/consents/' + encodeURIComponent(c.client_id));
    if (res.status === 200) {
      showMessage(appsMsg, '“' + c.client_name + '” will ask for your permission again next time.', 'success');
    } else {
      showMessage(appsMsg, errorText(res), 'error');
    }
    await loadApps();
  }
  cell.append(withdraw);
  return row([
    el('th', { scope: 'row' }, c.client_name),
    el('td', null, (c.scopes || []).map((s) => el('code', { class: 'scope' }, s))),
    timeEl(c.granted_at), cell,
  ], { id: 'app-' + c.client_id });
}

function loadPasskeys() {
  passkeyList($('passkey-box'), {
    msg: mfaMsg,
    onChange: loadMfa,
    onCodes: (codes) => $('recovery-box').replaceChildren(recoveryCodes(codes)),
  });
}

requireUser().then((user) => {
  fillProfile(user);
  renderScopes(user);
  loadKeys();
  loadSessions();
  loadMfa();
  loadPasskeys();
  loadApps();
}, () => {});
