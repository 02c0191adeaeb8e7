// The login form: posts the token as JSON, shows the API's reason on failure, goes on to `next`.
const form = document.getElementById('login');
const err = document.getElementById('login-error');
const nextField = document.getElementById('next');

/** Only a console path (the server checks the form post the same way). */
function safeNext(n) {
  if (
    typeof n !== 'string' ||
    !/^\/admin(\/|\?|$)/.test(n) ||
    n.includes('\\') ||
    n.startsWith('/admin/login')
  )
    return '/admin/';
  return n;
}

// At /admin/login the target is `next`; anywhere else nginx showed this form in place of the page
// asked for (no session yet), so that page is the target.
const next = safeNext(
  location.pathname === '/admin/login'
    ? new URLSearchParams(location.search).get('next')
    : location.pathname + location.search,
);
nextField.value = next;

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  err.hidden = true;
  const token = document.getElementById('token').value.trim();
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const res = await fetch('/admin/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
      credentials: 'same-origin',
    });
    if (res.ok) {
      location.assign(next);
      return;
    }
    let message = `login failed (HTTP ${res.status})`;
    try {
      const body = await res.json();
      if (body?.error?.message) message = body.error.message;
    } catch {
      // Not JSON: the status says enough.
    }
    err.textContent = `Login failed: ${message}`;
    err.hidden = false;
  } catch (e) {
    err.textContent = `Login failed: ${e.message}`;
    err.hidden = false;
  } finally {
    button.disabled = false;
  }
});
