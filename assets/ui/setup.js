import { api, $, showMessage, showFieldErrors, clearFieldErrors, fieldError, errorText, busy } from './common.js';

const form = $('setup-form');
const msg = $('setup-msg');

function done() {
  form.hidden = true;
  $('setup-done').hidden = false;
}

api('GET', '/setup').then((res) => {
  if (res.status === 200 && res.data && res.data.setup_required === false) done();
  else {
    form.hidden = false;
    if (res.status !== 200) showMessage(msg, errorText(res), 'error');
  }
});

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  clearFieldErrors(form);
  showMessage(msg, '');
  if (form.password.value !== form.confirm.value) {
    fieldError(form.confirm, 'The passwords do not match.');
    showMessage(msg, 'The passwords do not match.', 'error');
    form.confirm.focus();
    return;
  }
  const body = {
    code: form.code.value.trim().toUpperCase(),
    username: form.username.value.trim(),
    email: form.email.value.trim(),
    password: form.password.value,
  };
  const fullName = form.full_name.value.trim();
  if (fullName) body.full_name = fullName;
  busy($('setup-button'), async () => {
    const res = await api('POST', '/setup', body);
    if (res.status === 201 || res.status === 200) {
      showMessage(msg, 'Administrator created. Opening the admin page…', 'success');
      location.assign('/ui/admin');
    } else if (res.status === 409) {
      done();
    } else if (res.status === 403) {
      fieldError(form.code, 'Invalid setup code.');
      showMessage(msg, 'Invalid setup code. Use the code printed by gatehouse serve at start-up.', 'error');
      form.code.focus();
    } else if (res.status === 422 && res.data && Array.isArray(res.data.detail)) {
      const rest = showFieldErrors(form, res.data.detail);
      showMessage(msg, ['Please correct the highlighted fields.', ...rest].join(' '), 'error');
      const bad = form.querySelector('[aria-invalid]');
      if (bad) bad.focus();
    } else {
      showMessage(msg, errorText(res), 'error');
    }
  });
});
