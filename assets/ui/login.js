import { api, $, cookie, refreshSession, showMessage, retryAfter, busy, errorText } from './common.js';
import { enrollTotp, recoveryCodes } from './mfa.js';
import { supported as passkeysSupported, assertion, register } from './passkeys.js';

const params = new URLSearchParams(location.search);
const rd = params.get('rd');
const REASONS = {
  'password-changed': ['Your password was changed. Sign in with your new password.', 'success'],
  'signed-out': ['You have been signed out.', 'success'],
  expired: ['Your session has ended. Please sign in again.', 'info'],
};
const reason = REASONS[params.get('reason')];
if (reason) showMessage('notice', reason[0], reason[1]);
// A password change leaves API keys working: say so, so that a stolen key is not forgotten.
const keys = parseInt(params.get('keys') || '', 10);
if (params.get('reason') === 'password-changed' && keys > 0) {
  $('notice').append(' ', keys === 1 ? 'Your API key still works' : `Your ${keys} API keys still work`,
    ': revoke any you do not recognise on your account page.');
}

// Already signed in? Go straight on. A tool behind forward auth sends people here
// when its request came without the session cookie (SameSite=Strict cookies stay
// behind when a link on another site is followed); a navigation started from this
// page carries them. Guard against a loop if the tool still does not get them.
// A fresh sign-in was asked for (an application's prompt=login or max_age): no shortcut.
const reauth = params.get('reauth') === '1';
if (!reason && !reauth && cookie('csrf_token')) {
  (async () => {
    let res = await api('GET', '/users/me', null, { noRefresh: true });
    // The access cookie lasts minutes, the refresh cookie days.
    if (res.status === 401 && (await refreshSession())) res = await api('GET', '/users/me', null, { noRefresh: true });
    if (res.status !== 200 || !res.data) return;
    const key = 'gatehouse-forwarded:' + (rd || '');
    const last = Number(sessionStorage.getItem(key) || 0);
    if (Date.now() - last < 15000) {
      showMessage('notice', 'You are signed in as ' + res.data.username + ', but the page you came from did not'
        + ' receive the session. Its operator may need gatehouse\'s --cookie-domain setting.', 'error');
      return;
    }
    sessionStorage.setItem(key, String(Date.now()));
    location.assign(rd ? '/ui/next?rd=' + encodeURIComponent(rd) : '/ui/next');
  })();
}

api('GET', '/setup').then((res) => {
  if (res.status === 200 && res.data && res.data.setup_required) $('setup-link-wrap').hidden = false;
});

const plural = (n, word) => n + ' ' + word + (n === 1 ? '' : 's');

const form = $('login-form');
const otpField = $('otp-field');

// The second step: the password stays in its field, the code is asked for.
function askForCode(msg) {
  otpField.hidden = false;
  $('otp-passkey').hidden = !passkeysSupported();
  form.otp.value = '';
  showMessage(msg, 'Enter the six-digit code from your authenticator app, or one of your recovery codes.', 'info');
  form.otp.focus();
}

// A role that must have a second factor and has none: enroll with the
// enrollment token, then sign in with the new code.
function enroll(token) {
  form.hidden = true;
  $('enroll').hidden = false;
  const done = (codes) => {
    $('enroll-box').append(recoveryCodes(codes));
    $('enroll-done').hidden = false;
    $('enroll-done').focus();
  };
  enrollTotp($('enroll-box'), { bearer: token, onDone: done });
  // Or a passkey, with the same enrollment token.
  const button = $('enroll-passkey');
  button.hidden = !passkeysSupported();
  button.addEventListener('click', () => busy(button, async () => {
    try {
      const r = await register('', { bearer: token });
      $('enroll-box').replaceChildren();
      button.hidden = true;
      done(r.recovery_codes);
    } catch (e) {
      showMessage($('enroll-msg'), String(e.message || e), 'error');
    }
  }));
}
$('enroll-done').addEventListener('click', () => {
  $('enroll').hidden = true;
  form.hidden = false;
  askForCode($('login-msg'));
});

const goOn = () => location.assign(rd ? '/ui/next?rd=' + encodeURIComponent(rd) : '/ui/next');

// Password-less: a discoverable passkey that verifies its user.
$('passkey-login-wrap').hidden = !passkeysSupported();
$('passkey-login').addEventListener('click', (ev) => busy(ev.currentTarget, async () => {
  const msg = $('login-msg');
  try {
    const credential = await assertion();
    if (!credential) return showMessage(msg, 'No passkey was used (cancelled or timed out).', 'error');
    const res = await api('POST', '/auth/passkey', { credential }, { noRefresh: true });
    if (res.status === 200) {
      showMessage(msg, 'Signed in. Redirecting…', 'success');
      return goOn();
    }
    showMessage(msg, res.status === 401 ? 'That passkey was not accepted.' : errorText(res), 'error');
  } catch (e) {
    showMessage(msg, String(e.message || e), 'error');
  }
}));

// The second step with a passkey instead of a code.
$('otp-passkey').addEventListener('click', (ev) => busy(ev.currentTarget, async () => {
  try {
    const credential = await assertion();
    if (!credential) return showMessage($('login-msg'), 'No passkey was used (cancelled or timed out).', 'error');
    await signIn({ passkey: JSON.stringify(credential) });
  } catch (e) {
    showMessage($('login-msg'), String(e.message || e), 'error');
  }
}));

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const second = !otpField.hidden && form.otp.value.trim() ? { otp: form.otp.value.trim() } : {};
  busy($('login-button'), () => signIn(second));
});

async function signIn(second) {
  const msg = $('login-msg');
  showMessage(msg, 'Signing in…', 'info');
  const fields = { username: form.username.value.trim(), password: form.password.value, ...second };
  const res = await api('POST', '/auth/login', fields, { form: true });
  if (res.status === 200) {
    showMessage(msg, 'Signed in. Redirecting…', 'success');
    goOn();
    return;
  }
  if (res.status === 401 && res.data && res.data.mfa_required) return askForCode(msg);
  if (res.status === 403 && res.data && res.data.mfa_enrollment_required) {
    showMessage(msg, '');
    return enroll(res.data.enrollment_token);
  }
  const wait = retryAfter(res);
  let text;
  if (res.status === 401 && wait) {
    text = 'This account is locked after too many failed sign-ins. Try again in ' + plural(Math.max(1, Math.ceil(wait / 60)), 'minute') + '.';
  } else if (res.status === 401) {
    text = otpField.hidden ? 'Incorrect username or password.' : 'Incorrect username, password or code.';
  } else if (res.status === 429) {
    text = 'Too many sign-in attempts. ' + (wait ? 'Wait ' + plural(wait, 'second') + '.' : 'Wait a moment and try again.');
  } else if (res.status === 0) {
    text = 'Could not reach the server. Check your connection and try again.';
  } else {
    const d = res.data && res.data.detail;
    text = typeof d === 'string' ? d : 'Sign-in failed (HTTP ' + res.status + ').';
  }
  showMessage(msg, text, 'error');
  form.password.value = '';
  form.otp.value = '';
  form.password.focus();
}
