import {
  api, $, el, row, showMessage, errorText, busy, requireUser, isAdmin, timeEl, formatDate, shortUA,
} from './common.js';
import { barChart } from './chart.js';
import { initClients } from './clients.js';

const ROLES = ['user', 'moderator', 'admin', 'super_admin'];
const EVENTS = ['login_success', 'login_failure', 'logout', 'token_refresh', 'token_revoked',
  'token_reuse_detected', 'password_changed', 'role_changed', 'account_locked', 'account_deactivated',
  'api_key_generated', 'api_key_revoked', 'unauthorized_access', 'rate_limit_exceeded',
  'account_reactivated', 'account_unlocked', 'user_registered', 'mfa_enabled', 'mfa_disabled', 'mfa_reset',
  'recovery_codes_regenerated', 'recovery_code_used', 'passkey_registered', 'passkey_removed',
  'passkey_counter_regression', 'client_registered', 'client_updated', 'client_removed',
  'client_secret_rotated', 'consent_granted', 'consent_revoked', 'code_reuse_detected'];
const PAGE = 20;
const AUDIT_PAGE = 50;
let me = null;
let totalUsers = null;

// ---- Dashboard
async function loadDashboard() {
  const res = await api('GET', '/admin/dashboard');
  if (res.status !== 200) return showMessage('dashboard-msg', errorText(res), 'error');
  const d = res.data;
  totalUsers = d.total_users;
  $('count-total').textContent = d.total_users;
  $('count-active').textContent = d.active_users;
  $('count-inactive').textContent = d.inactive_users;
  for (const r of ROLES) $('count-' + r).textContent = (d.users_by_role || {})[r] ?? 0;
  $('count-mfa').textContent = d.users_with_mfa ?? '–';
  updateUsersPager();
}

// ---- Sign-in chart
let range = '24h';
let chartSeq = 0;

async function loadChart() {
  for (const r of ['24h', '30d']) $('range-' + r).setAttribute('aria-pressed', String(r === range));
  const mine = ++chartSeq;
  const res = await api('GET', '/admin/stats/logins?range=' + range);
  if (mine !== chartSeq) return; // a newer range was asked for meanwhile
  const box = $('login-chart');
  if (res.status !== 200 || !res.data || !Array.isArray(res.data.buckets)) {
    box.replaceChildren();
    return showMessage('chart-msg', errorText(res), 'error');
  }
  showMessage('chart-msg', '');
  const buckets = res.data.buckets;
  const hourly = range === '24h';
  const when = hourly ? 'the last 24 hours' : 'the last 30 days';
  const label = (b) => {
    const d = new Date(b.start);
    return hourly ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
      : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  };
  const ok = buckets.map((b) => b.success || 0);
  const bad = buckets.map((b) => b.failure || 0);
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  const summary = `Sign-ins in ${when}: ${sum(ok)} successful, ${sum(bad)} failed.`;
  box.replaceChildren(barChart({
    title: `Sign-ins in ${when}, per ${hourly ? 'hour' : 'day'}`,
    desc: summary,
    labels: buckets.map(label),
    tips: buckets.map((b) => formatDate(b.start)),
    series: [{ name: 'Successful', cls: 'bar-success', values: ok }, { name: 'Failed', cls: 'bar-failure', values: bad }],
    width: box.clientWidth,
  }));
  $('chart-summary').textContent = summary;
  $('chart-caption').textContent = `Sign-ins in ${when}`;
  $('chart-body').replaceChildren(...buckets.map((b, i) => row([el('th', { scope: 'row' }, formatDate(b.start)), ok[i], bad[i]])));
}

for (const r of ['24h', '30d']) {
  $('range-' + r).addEventListener('click', () => { range = r; loadChart(); });
}

// ---- Users
const users = { skip: 0, q: '', count: 0 };
const usersMsg = $('users-msg');

async function loadUsers() {
  $('users-prev').disabled = $('users-next').disabled = true;
  const res = users.q
    ? await api('GET', '/admin/users/search?include=status&q=' + encodeURIComponent(users.q) + '&limit=' + PAGE)
    : await api('GET', `/admin/users?include=status&skip=${users.skip}&limit=${PAGE}`);
  if (res.status !== 200) {
    showMessage(usersMsg, errorText(res), 'error');
    return updateUsersPager();
  }
  const list = Array.isArray(res.data) ? res.data : [];
  users.count = list.length;
  $('users-body').replaceChildren(...list.map(userRow));
  if (!list.length) {
    $('users-body').append(el('tr', null, el('td', { colspan: 5 }, users.q ? 'No user matches “' + users.q + '”.' : 'No users on this page.')));
  }
  updateUsersPager();
}

function updateUsersPager() {
  const prev = $('users-prev');
  const next = $('users-next');
  const searching = !!users.q;
  prev.hidden = next.hidden = searching;
  prev.disabled = users.skip === 0;
  next.disabled = users.count < PAGE || (totalUsers !== null && users.skip + PAGE >= totalUsers);
  $('users-page').textContent = searching
    ? `${users.count} match${users.count === 1 ? '' : 'es'}`
    : users.count ? `Users ${users.skip + 1}–${users.skip + users.count}${totalUsers !== null ? ' of ' + totalUsers : ''}` : '';
}

$('users-prev').addEventListener('click', () => { users.skip = Math.max(0, users.skip - PAGE); loadUsers(); });
$('users-next').addEventListener('click', () => { users.skip += PAGE; loadUsers(); });
$('user-search-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  users.q = $('user-search').value.trim();
  users.skip = 0;
  showMessage(usersMsg, '');
  loadUsers();
});
$('user-search-clear').addEventListener('click', () => {
  $('user-search').value = '';
  users.q = '';
  users.skip = 0;
  showMessage(usersMsg, '');
  loadUsers();
});

function userRow(u) {
  const self = me && me.id === u.id;
  // What the server allows: nobody changes their own role or status here (the
  // operator CLI does), only a super_admin touches a super_admin, and nobody is
  // made super_admin over the API.
  const untouchable = self || (u.role === 'super_admin' && me && me.role !== 'super_admin');
  const sel = el('select', { id: 'role-' + u.id, name: 'role' },
    ROLES.filter((r) => r !== 'super_admin' || u.role === 'super_admin')
      .map((r) => el('option', { value: r, selected: r === u.role, disabled: r === 'super_admin' }, r)));
  const roleCell = untouchable || u.role === 'super_admin'
    ? el('span', { class: 'tag' }, u.role, self ? ' (you)' : '')
    : el('div', { class: 'inline' },
      el('label', { for: 'role-' + u.id, class: 'visually-hidden' }, 'Role for ' + u.username),
      sel,
      el('button', { type: 'button', id: 'save-role-' + u.id, onclick: act('Save role') }, 'Save'));
  const tr = row([
    el('th', { scope: 'row' }, el('span', { class: 'uname' }, u.username), el('br'), el('span', { class: 'hint' }, u.email)),
    el('td', null, roleCell),
    el('td', null, status(u)),
    el('td', null, timeEl(u.created_at, '', { dateStyle: 'medium' })),
    el('td', { class: 'row-actions' }, untouchable ? null : [
      u.is_active
        ? el('button', { type: 'button', id: 'deactivate-' + u.id, class: 'danger', onclick: act('Deactivate') }, 'Deactivate')
        : el('button', { type: 'button', id: 'reactivate-' + u.id, onclick: act('Reactivate') }, 'Reactivate'),
      canUnlock(u) ? el('button', { type: 'button', id: 'unlock-' + u.id, class: 'secondary', onclick: act('Unlock') }, 'Unlock') : null,
      el('button', { type: 'button', id: 'revoke-sessions-' + u.id, class: 'secondary', onclick: act('Revoke sessions') }, 'Revoke sessions'),
      el('button', { type: 'button', id: 'reset-mfa-' + u.id, class: 'secondary', title: 'Clear their authenticator app, recovery codes and passkeys (a lost device)', onclick: act('Reset 2FA') }, 'Reset 2FA'),
    ], self ? null : el('button', { type: 'button', id: 'keys-' + u.id, class: 'secondary', onclick: () => openKeys(u, untouchable) }, 'API keys')),
  ], { id: 'user-' + u.id, 'data-username': u.username, class: self ? 'current' : null });

  function act(what) {
    return (ev) => { const btn = ev.currentTarget; busy(btn, async () => {
      const base = '/admin/users/' + u.id;
      const res = what === 'Save role' ? await api('PUT', base + '/role', { new_role: sel.value })
        : await api('POST', base + { Deactivate: '/deactivate', Reactivate: '/activate', Unlock: '/unlock', 'Revoke sessions': '/revoke-sessions', 'Reset 2FA': '/reset-mfa' }[what]);
      if (res.status !== 200) {
        showMessage(usersMsg, `${what} failed for ${u.username}: ${errorText(res)}`, 'error');
        if (what === 'Save role') sel.value = u.role;
        return;
      }
      const done = {
        'Save role': `${u.username} is now ${sel.value}.`, Deactivate: `${u.username} was deactivated.`,
        Reactivate: `${u.username} was reactivated.`, Unlock: `${u.username} was unlocked.`,
        'Revoke sessions': `Every session of ${u.username} was revoked.`,
        'Reset 2FA': `${u.username} has no second factor now.`,
      }[what];
      showMessage(usersMsg, done, 'success');
      if (res.data && res.data.id === u.id) {
        // Action replies are the tutorial's UserResponse: keep the sign-in state we had.
        const cleared = what === 'Unlock' ? { locked_until: null, failed_login_attempts: 0 } : {};
        const fresh = userRow({ ...u, ...res.data, ...cleared });
        tr.replaceWith(fresh);
        const again = document.getElementById(btn.id) || fresh.querySelector('.row-actions button');
        if (again) again.focus();
      }
      if (what !== 'Unlock' && what !== 'Revoke sessions') loadDashboard();
    }); };
  }
  return tr;
}

// ---- One user's API keys (they outlive password changes and plain session revocations)
const keysMsg = $('user-keys-msg');
let keysOf = null;

async function openKeys(u, readOnly) {
  keysOf = { user: u, readOnly };
  $('user-keys-name').textContent = u.username;
  $('user-keys-caption').textContent = 'API keys of ' + u.username;
  $('user-keys-revoke-all').hidden = readOnly;
  $('user-keys-section').hidden = false;
  showMessage(keysMsg, '');
  await loadKeys();
  $('user-keys-h').focus();
}

async function loadKeys() {
  const { user, readOnly } = keysOf;
  const res = await api('GET', `/admin/users/${user.id}/api-keys`);
  if (res.status !== 200) return showMessage(keysMsg, errorText(res), 'error');
  const keys = Array.isArray(res.data) ? res.data : [];
  $('user-keys-body').replaceChildren(...keys.map((k) => keyRow(user, k, readOnly)));
  $('user-keys-empty').hidden = keys.length > 0;
  $('user-keys-table').hidden = keys.length === 0;
}

function keyRow(user, k, readOnly) {
  const cell = el('td', { class: 'row-actions' });
  const revoke = el('button', { type: 'button', id: 'revoke-user-key-' + k.id, class: 'danger', onclick: ask }, 'Revoke');
  function ask() {
    const yes = el('button', { type: 'button', class: 'danger', onclick: () => busy(yes, go) }, 'Confirm revoke');
    const no = el('button', { type: 'button', class: 'secondary', onclick: () => { cell.replaceChildren(revoke); revoke.focus(); } }, 'Cancel');
    cell.replaceChildren(el('span', { class: 'confirm-text' }, 'Revoke “' + k.name + '”?'), yes, no);
    yes.focus();
  }
  async function go() {
    const res = await api('DELETE', `/admin/users/${user.id}/api-keys/${encodeURIComponent(k.id)}`);
    if (res.status === 204) showMessage(keysMsg, `API key “${k.name}” of ${user.username} revoked.`, 'success');
    else showMessage(keysMsg, errorText(res), 'error');
    await loadKeys();
    loadAudit();
  }
  if (!readOnly) cell.append(revoke);
  return row([
    k.name, el('code', null, k.prefix + '…'), (k.scopes || []).join(' ') || '—',
    timeEl(k.created_at), timeEl(k.last_used_at, 'Never'), cell,
  ], { id: 'user-key-' + k.id });
}

$('user-keys-revoke-all').addEventListener('click', (ev) => busy(ev.currentTarget, async () => {
  const { user } = keysOf;
  const res = await api('POST', `/admin/users/${user.id}/revoke-sessions?include_api_keys=true`);
  if (res.status === 200) showMessage(keysMsg, `Every session and API key of ${user.username} was revoked.`, 'success');
  else showMessage(keysMsg, errorText(res), 'error');
  await loadKeys();
  loadAudit();
}));
$('user-keys-close').addEventListener('click', () => {
  const back = keysOf && $('keys-' + keysOf.user.id);
  $('user-keys-section').hidden = true;
  keysOf = null;
  if (back) back.focus();
});

// The server may or may not report lockouts; without the fields, always offer Unlock.
function canUnlock(u) {
  return !!u.locked_until || u.failed_login_attempts > 0;
}

function status(u) {
  const parts = [el('span', { class: 'tag ' + (u.is_active ? 'tag-ok' : 'tag-bad') }, u.is_active ? 'Active' : 'Inactive')];
  if (u.locked_until && new Date(u.locked_until) > new Date()) {
    parts.push(' ', el('span', { class: 'tag tag-bad' }, 'Locked'), el('br'), el('span', { class: 'hint' }, 'until ' + formatDate(u.locked_until)));
  }
  if (u.failed_login_attempts > 0) parts.push(el('br'), el('span', { class: 'hint' }, u.failed_login_attempts + ' failed sign-ins'));
  return parts;
}

// ---- Audit log
const audit = { skip: 0, filters: {}, count: 0 };
const auditMsg = $('audit-msg');
$('audit-event').append(...EVENTS.map((e) => el('option', { value: e }, e)));

function rfc3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function loadAudit() {
  $('audit-prev').disabled = $('audit-next').disabled = true;
  const q = new URLSearchParams({ skip: audit.skip, limit: AUDIT_PAGE });
  for (const [k, v] of Object.entries(audit.filters)) if (v) q.set(k, v);
  const res = await api('GET', '/admin/audit?' + q);
  if (res.status !== 200) {
    showMessage(auditMsg, errorText(res), 'error');
    $('audit-prev').disabled = audit.skip === 0;
    return;
  }
  showMessage(auditMsg, '');
  const list = Array.isArray(res.data) ? res.data : [];
  audit.count = list.length;
  $('audit-body').replaceChildren(...list.map((a) => row([
    timeEl(a.timestamp), el('code', null, a.event), a.username || (a.user_id != null ? '#' + a.user_id : '—'),
    a.ip_address || '—', a.user_agent ? el('span', { title: a.user_agent }, shortUA(a.user_agent)) : '—', a.detail || '',
  ])));
  if (!list.length) $('audit-body').append(el('tr', null, el('td', { colspan: 6 }, 'No matching entries.')));
  $('audit-prev').disabled = audit.skip === 0;
  $('audit-next').disabled = list.length < AUDIT_PAGE;
  $('audit-page').textContent = list.length ? `Entries ${audit.skip + 1}–${audit.skip + list.length}` : '';
}

$('audit-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const since = $('audit-since').value;
  const until = $('audit-until').value;
  audit.filters = {
    event: $('audit-event').value,
    username: $('audit-username').value.trim(),
    since: rfc3339(since),
    until: rfc3339(until),
  };
  audit.skip = 0;
  loadAudit();
});
$('audit-form').addEventListener('reset', () => {
  audit.filters = {};
  audit.skip = 0;
  loadAudit();
});
$('audit-prev').addEventListener('click', () => { audit.skip = Math.max(0, audit.skip - AUDIT_PAGE); loadAudit(); });
$('audit-next').addEventListener('click', () => { audit.skip += AUDIT_PAGE; loadAudit(); });

requireUser().then((user) => {
  me = user;
  if (!isAdmin(user)) {
    const msg = $('page-msg');
    showMessage(msg, 'This page is for administrators. ', 'error');
    msg.append(el('a', { href: '/ui/account' }, 'Go to your account'));
    return;
  }
  $('admin-content').hidden = false;
  loadDashboard();
  loadChart();
  loadUsers();
  loadAudit();
  initClients(user, loadAudit);
}, () => {});
