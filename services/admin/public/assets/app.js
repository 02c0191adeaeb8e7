// The console's shell: who is logged in, the navigation, and the page the path names.
import { api, get, setRole, toLogin } from './api.js';
import { fill, h } from './dom.js';

const PAGES = {
  '/admin': 'overview',
  '/admin/': 'overview',
  '/admin/conversations': 'conversations',
  '/admin/logs': 'logs',
  '/admin/parking': 'parking',
  '/admin/pairing': 'pairing',
  '/admin/config': 'config',
  '/admin/workflows': 'workflows',
  '/admin/audit': 'audit',
};
const RANK = { viewer: 1, operator: 2, admin: 3 };

const main = document.getElementById('page');
const banner = document.getElementById('banner');

/** A message across the top of the page (an error the user should see), or none. */
function showBanner(message, kind = 'error') {
  if (!message) {
    banner.hidden = true;
    return;
  }
  banner.className = `banner ${kind}`;
  fill(
    banner,
    message,
    ' ',
    h('button.quiet.small', { type: 'button', onclick: () => showBanner(null) }, 'Dismiss'),
  );
  banner.hidden = false;
}

const dialog = document.getElementById('confirm');
/** An in-page confirmation; resolves true when the user confirms. */
function confirmAction(text, okLabel = 'Confirm') {
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

async function start() {
  const page = PAGES[location.pathname] ?? 'overview';
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
  }
  document.getElementById('logout').addEventListener('click', async () => {
    await api('POST', '/admin/logout').catch(() => {});
    location.assign('/admin/login');
  });
  let me;
  try {
    me = await get('/admin/api/me');
  } catch (err) {
    if (err.status !== 401) fill(main, h('p.error', { role: 'alert' }, err.message));
    return;
  }
  setRole(me.role);
  document.body.dataset.role = me.role;
  fill(
    document.getElementById('who'),
    h('span', me.name),
    ' ',
    h('span.role', { title: `token expires ${new Date(me.expiresAt).toLocaleString()}` }, me.role),
  );
  const ctx = {
    main,
    me,
    /** Whether the logged-in role may do what needs `role`. */
    can: (role) => (RANK[me.role] ?? 0) >= (RANK[role] ?? 9),
    banner: showBanner,
    confirm: confirmAction,
    toLogin,
  };
  /** A button the role cannot use is shown disabled, with the reason; the API enforces it anyway. */
  ctx.guard = (button, role) => {
    if (!ctx.can(role)) {
      button.disabled = true;
      button.title = `needs the ${role} role; you are ${me.role}`;
      button.classList.add('not-allowed');
    }
    return button;
  };
  document.title = `${document.querySelector(`#nav a[data-page="${page}"]`)?.textContent ?? 'Console'} · Switchboard`;
  try {
    const mod = await import(`./pages/${page}.js`);
    fill(main);
    await mod.render(ctx);
  } catch (err) {
    fill(main, h('p.error', { role: 'alert' }, err.message));
  }
}

start();
