import './style.css';
import { ApiError, api, setCsrf } from './api.ts';
import {
  adminView,
  errorBox,
  exploreView,
  loginView,
  overviewView,
  privacyView,
  type SessionUser,
  sqlView,
} from './views.ts';

const root = document.getElementById('app') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
const logout = document.getElementById('logout') as HTMLButtonElement;
const ROUTES = {
  overview: overviewView,
  explore: exploreView,
  sql: sqlView,
  admin: adminView,
  privacy: privacyView,
} as const;
let user: SessionUser | null = null;

function signedOut(): void {
  user = null;
  setCsrf(null);
  nav.hidden = true;
  logout.hidden = true;
  who.textContent = '';
  loginView(root, (u) => {
    signIn(u);
    location.hash = '#/overview';
    void route();
  });
}

function signIn(u: SessionUser): void {
  user = u;
  nav.hidden = false;
  logout.hidden = false;
  who.textContent = `${u.name} (${u.role})`;
  for (const a of nav.querySelectorAll<HTMLElement>('[data-role]')) {
    const need = a.dataset.role;
    a.hidden = need === 'admin' ? u.role !== 'admin' : need === 'analyst' ? u.role === 'viewer' : false;
  }
}

async function route(): Promise<void> {
  if (!user) return signedOut();
  const name = (location.hash.replace(/^#\//, '') || 'overview') as keyof typeof ROUTES;
  const view = ROUTES[name] ?? overviewView;
  for (const a of nav.querySelectorAll('a'))
    a.setAttribute('aria-current', a.getAttribute('href') === `#/${name}` ? 'page' : 'false');
  try {
    await view(root, user);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signedOut();
    root.replaceChildren(errorBox(e));
  }
}

logout.addEventListener('click', async () => {
  await api('POST', '/api/v1/logout').catch(() => {});
  signedOut();
});
window.addEventListener('hashchange', () => void route());

api<{ user: SessionUser; csrfToken: string | null }>('GET', '/api/v1/session')
  .then((s) => {
    setCsrf(s.csrfToken);
    signIn(s.user);
    return route();
  })
  .catch(() => signedOut());
