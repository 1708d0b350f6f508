// Sign in with an API key: asks the server who the key belongs to, then keeps it for this tab only.
import { get } from '../api.js';
import { session } from '../session.js';
import { clear, errorBox, field, h } from '../dom.js';

export async function signInPage(view, { query }, done) {
  const input = h('input', { type: 'password', name: 'key', autocomplete: 'off', required: true, spellcheck: 'false' });
  const message = h('div', {});
  const reason = query.get('reason');
  if (reason) message.append(errorBox(reason));
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', text: 'Sign in' }),
    h('p', { text: 'Use the API key your administrator gave you (it starts with aiaas_). It is kept in this browser tab only and forgotten when you close it.' }),
    field('API key', input),
    h('button', { type: 'submit', class: 'primary', text: 'Sign in' }),
    message);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(message);
    const key = input.value.trim();
    session.signIn(key, null);
    try {
      const me = await get('/v1/whoami');
      session.signIn(key, me);
      done();
    } catch (err) {
      session.signOut();
      message.append(errorBox(err.status === 401 ? 'That key was not accepted (unknown, revoked or expired). Check it and try again.' : err));
    }
  });
  clear(view, form);
  input.focus();
}
