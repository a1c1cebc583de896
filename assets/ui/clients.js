// The admin page's "Applications (OpenID clients)" section: the list for admins;
// register, edit, rotate a secret and remove for super_admins (the server decides:
// changing a client takes manage:system). A secret is shown once, with the client
// ID and the issuer to paste into the tool.
import {
  api, $, el, row, showMessage, showFieldErrors, clearFieldErrors, errorText, busy,
} from './common.js';

const ROLES = ['user', 'moderator', 'admin', 'super_admin'];
const msg = $('clients-msg');
const form = $('client-form');
let canChange = false;
let editing = null; // the client being edited, or null when registering
let onChange = () => {};

const lines = (text) => text.split('\n').map((l) => l.trim()).filter(Boolean);

export async function loadClients() {
  const res = await api('GET', '/admin/clients');
  if (res.status !== 200) return showMessage(msg, errorText(res), 'error');
  const list = Array.isArray(res.data) ? res.data : [];
  $('clients-body').replaceChildren(...list.map(clientRow));
  $('clients-empty').hidden = list.length > 0;
  $('clients-table').hidden = list.length === 0;
}

function uriList(uris) {
  return (uris || []).length ? el('ul', { class: 'plain-list' }, uris.map((u) => el('li', null, el('code', null, u)))) : '—';
}

function clientRow(c) {
  const cell = el('td', { class: 'row-actions' });
  const actions = [
    el('button', { type: 'button', id: 'edit-client-' + c.client_id, class: 'secondary', onclick: () => startEdit(c) }, 'Edit'),
    c.public ? null : el('button', { type: 'button', id: 'rotate-client-' + c.client_id, class: 'secondary', onclick: () => confirmThen(c, 'rotate') }, 'Rotate secret'),
    el('button', { type: 'button', id: 'remove-client-' + c.client_id, class: 'danger', onclick: () => confirmThen(c, 'remove') }, 'Remove'),
  ];
  function confirmThen(client, what) {
    const text = what === 'rotate'
      ? `New secret for “${client.name}”? The old one stops working at once.`
      : `Remove “${client.name}”? Its users can no longer sign in to it.`;
    const yes = el('button', { type: 'button', class: 'danger', onclick: () => busy(yes, () => (what === 'rotate' ? rotate(client) : remove(client))) },
      what === 'rotate' ? 'Confirm new secret' : 'Confirm remove');
    const no = el('button', { type: 'button', class: 'secondary', onclick: () => { cell.replaceChildren(...actions); actions[0].focus(); } }, 'Cancel');
    cell.replaceChildren(el('span', { class: 'confirm-text' }, text), yes, no);
    yes.focus();
  }
  if (canChange) cell.append(...actions.filter(Boolean));
  const tags = [el('span', { class: 'tag' }, c.public ? 'public' : 'confidential')];
  if (c.trusted) tags.push(' ', el('span', { class: 'tag tag-ok' }, 'trusted'));
  return row([
    el('th', { scope: 'row' }, el('span', { class: 'uname' }, c.name), el('br'), el('code', { class: 'hint cid' }, c.client_id)),
    el('td', null, tags),
    (c.allowed_roles || []).join(', ') || 'every role',
    el('td', null, uriList(c.redirect_uris)),
    c.id_token_signed_response_alg,
    cell,
  ], { id: 'client-' + c.client_id, 'data-name': c.name });
}

async function rotate(c) {
  const res = await api('POST', `/admin/clients/${encodeURIComponent(c.client_id)}/rotate-secret`);
  if (res.status !== 200) {
    showMessage(msg, errorText(res), 'error');
    return loadClients();
  }
  showMessage(msg, `“${c.name}” has a new secret. Give it to the tool now: it will not be shown again.`, 'success');
  await showSecret(res.data);
  await loadClients();
  onChange();
}

async function remove(c) {
  const res = await api('DELETE', `/admin/clients/${encodeURIComponent(c.client_id)}`);
  if (res.status === 204) showMessage(msg, `“${c.name}” was removed.`, 'success');
  else showMessage(msg, errorText(res), 'error');
  if (editing && editing.client_id === c.client_id) resetForm();
  await loadClients();
  onChange();
}

// ---- The secret box: client ID, secret (once), issuer and discovery URL
let issuer = null;
async function discovery() {
  if (!issuer) {
    try {
      const res = await fetch('/.well-known/openid-configuration', { cache: 'no-store' });
      issuer = res.ok ? (await res.json()).issuer : null;
    } catch {
      issuer = null;
    }
  }
  return issuer || location.origin;
}

async function showSecret(c) {
  $('client-secret-name').textContent = c.name;
  $('client-secret-id').value = c.client_id;
  $('client-secret-value').value = c.client_secret || '';
  $('client-secret-field').hidden = !c.client_secret;
  $('client-public-note').hidden = !!c.client_secret;
  const iss = await discovery();
  $('client-issuer').value = iss;
  $('client-discovery').value = iss.replace(/\/$/, '') + '/.well-known/openid-configuration';
  $('client-secret-box').hidden = false;
  $('client-secret-h').focus();
}

async function copy(input, what) {
  try {
    await navigator.clipboard.writeText(input.value);
    showMessage(msg, what + ' copied to the clipboard.', 'success');
  } catch {
    input.focus();
    input.select();
    showMessage(msg, `The ${what.toLowerCase()} is selected: press Ctrl+C (⌘C on a Mac) to copy it.`, 'info');
  }
}
$('copy-client-id').addEventListener('click', () => copy($('client-secret-id'), 'Client ID'));
$('copy-client-secret').addEventListener('click', () => copy($('client-secret-value'), 'Client secret'));
$('client-secret-done').addEventListener('click', () => {
  $('client-secret-value').value = '';
  $('client-secret-box').hidden = true;
  $('client-name').focus();
});

// ---- Register and edit: one form
function resetForm() {
  editing = null;
  form.reset();
  clearFieldErrors(form);
  showMessage('client-form-msg', '');
  $('client-form-h').textContent = 'Register an application';
  $('client-save').textContent = 'Register application';
  $('client-cancel').hidden = true;
  $('client-public').disabled = false;
}

function startEdit(c) {
  resetForm();
  editing = c;
  $('client-form-h').textContent = `Edit “${c.name}”`;
  $('client-save').textContent = 'Save changes';
  $('client-cancel').hidden = false;
  $('client-name').value = c.name;
  $('client-redirects').value = (c.redirect_uris || []).join('\n');
  $('client-logout-redirects').value = (c.post_logout_redirect_uris || []).join('\n');
  $('client-public').checked = c.public;
  $('client-public').disabled = true;
  $('client-trusted').checked = c.trusted;
  for (const r of ROLES) $('client-role-' + r).checked = (c.allowed_roles || []).includes(r);
  $('client-alg').value = c.id_token_signed_response_alg;
  $('client-form-h').focus();
}

function formBody() {
  const body = {
    name: $('client-name').value.trim(),
    redirect_uris: lines($('client-redirects').value),
    post_logout_redirect_uris: lines($('client-logout-redirects').value),
    trusted: $('client-trusted').checked,
    allowed_roles: ROLES.filter((r) => $('client-role-' + r).checked),
    id_token_signed_response_alg: $('client-alg').value,
  };
  if (!editing) body.public = $('client-public').checked;
  return body;
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  clearFieldErrors(form);
  const body = formBody();
  const was = editing;
  busy($('client-save'), async () => {
    const res = was
      ? await api('PUT', `/admin/clients/${encodeURIComponent(was.client_id)}`, body)
      : await api('POST', '/admin/clients', body);
    if (res.status === 200 || res.status === 201) {
      resetForm();
      showMessage(msg, was ? `“${res.data.name}” was saved.` : `“${res.data.name}” was registered.`, 'success');
      if (!was) await showSecret(res.data);
      await loadClients();
      onChange();
    } else if (res.status === 422) {
      const rest = showFieldErrors(form, res.data && res.data.detail);
      showMessage('client-form-msg', ['Please correct the highlighted fields.', ...rest].join(' '), 'error');
    } else {
      showMessage('client-form-msg', errorText(res), 'error');
    }
  });
});
$('client-cancel').addEventListener('click', () => {
  const back = editing && $('edit-client-' + editing.client_id);
  resetForm();
  if (back) back.focus();
});

/** Shows the section; `me` decides whether the form and buttons are offered. */
export function initClients(me, changed) {
  canChange = me.role === 'super_admin';
  onChange = changed || onChange;
  $('client-role-list').replaceChildren(...ROLES.map((r) => el('div', { class: 'check' },
    el('input', { type: 'checkbox', id: 'client-role-' + r, name: 'allowed_roles', value: r }),
    el('label', { for: 'client-role-' + r }, r))));
  form.hidden = !canChange;
  $('clients-readonly').hidden = canChange;
  return loadClients();
}
