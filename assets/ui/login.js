import { api, $, cookie, refreshSession, showMessage, retryAfter, busy } from './common.js';

const params = new URLSearchParams(location.search);
const rd = params.get('rd');
const REASONS = {
  'password-changed': ['Your password was changed. Sign in with your new password.', 'success'],
  'signed-out': ['You have been signed out.', 'success'],
  expired: ['Your session has ended. Please sign in again.', 'info'],
};
const reason = REASONS[params.get('reason')];
if (reason) showMessage('notice', reason[0], reason[1]);

// Already signed in? Go straight on. A tool behind forward auth sends people here
// when its request came without the session cookie (SameSite=Strict cookies stay
// behind when a link on another site is followed); a navigation started from this
// page carries them. Guard against a loop if the tool still does not get them.
if (!reason && cookie('csrf_token')) {
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
form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const msg = $('login-msg');
  showMessage(msg, 'Signing in…', 'info');
  busy($('login-button'), async () => {
    const res = await api('POST', '/auth/login', {
      username: form.username.value.trim(),
      password: form.password.value,
    }, { form: true });
    if (res.status === 200) {
      showMessage(msg, 'Signed in. Redirecting…', 'success');
      location.assign(rd ? '/ui/next?rd=' + encodeURIComponent(rd) : '/ui/next');
      return;
    }
    const wait = retryAfter(res);
    let text;
    if (res.status === 401 && wait) {
      text = 'This account is locked after too many failed sign-ins. Try again in ' + plural(Math.max(1, Math.ceil(wait / 60)), 'minute') + '.';
    } else if (res.status === 401) {
      text = 'Incorrect username or password.';
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
    form.password.focus();
  });
});
