import './style.css';
import {
  ApiError,
  api,
  type Finding,
  type SessionAnswer,
  type SessionUser,
  type StateChain,
  type StatusAnswer,
  setCsrf,
} from './api.ts';
import { adminView, errorBox, exploreView, loginView, overviewView, privacyView, sqlView } from './views.ts';

const root = document.getElementById('app') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
const logout = document.getElementById('logout') as HTMLButtonElement;
const banner = document.getElementById('exposure') as HTMLElement;
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
  banner.hidden = true;
  setCsrf(null);
  nav.hidden = true;
  logout.hidden = true;
  who.textContent = '';
  loginView(root, (u) => {
    signIn(u);
    // A shared link (say, an Explore view) opens where it points once signed in.
    if (!location.hash.startsWith('#/') || location.hash === '#/') location.hash = '#/overview';
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

const SEEN_KEY = 'fleetvault.seen-state';

/**
 * This browser's record of the newest signed state it was shown (TUF's client-side defence): a
 * state that went back, or another chain in its place, is an alarm on every page until it clears.
 */
function checkChain(now: StateChain): Finding[] {
  let seen: { id: string; version: number; digest: string } | null = null;
  try {
    seen = JSON.parse(localStorage.getItem(SEEN_KEY) ?? 'null');
  } catch {
    seen = null;
  }
  const was = seen ? `state ${seen.id} version ${seen.version}` : '';
  if (seen && seen.id !== now.id)
    return [
      {
        kind: 'state-fork',
        where: `state ${now.id} version ${now.version}`,
        detail: `this browser saw ${was}: the chain was replaced`,
      },
    ];
  if (seen && now.version < seen.version)
    return [
      {
        kind: 'state-rollback',
        where: `state ${now.id} version ${now.version}`,
        detail: `this browser saw ${was}: an older state was put back`,
      },
    ];
  if (seen && now.digests[seen.version - 1] !== seen.digest)
    return [
      {
        kind: 'state-fork',
        where: `state ${now.id} version ${seen.version}`,
        detail: `another digest than this browser saw: the chain forked`,
      },
    ];
  const digest = now.digests[now.version - 1];
  if (digest) localStorage.setItem(SEEN_KEY, JSON.stringify({ id: now.id, version: now.version, digest }));
  return [];
}

/** The server's own exposure probe: any finding shows on every page until it clears. */
async function showExposure(): Promise<void> {
  const s = await api<StatusAnswer>('GET', '/api/v1/status').catch(() => null);
  const findings = [...(s?.exposure?.findings ?? []), ...(s?.state ? checkChain(s.state) : [])];
  banner.hidden = findings.length === 0;
  const list = document.createElement('ul');
  for (const f of findings) {
    const li = document.createElement('li');
    li.textContent = `${f.kind}: ${f.where} — ${f.detail}`;
    list.append(li);
  }
  banner.replaceChildren(
    `Exposure alert: this deployment's own probe found ${findings.length} problem(s). Tell an admin now.`,
    list,
  );
}

async function route(): Promise<void> {
  if (!user) return signedOut();
  void showExposure();
  // `#/explore?metric=…`: the page, then its own state.
  const name = (location.hash.replace(/^#\//, '').split('?')[0] || 'overview') as keyof typeof ROUTES;
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

api<SessionAnswer>('GET', '/api/v1/session')
  .then((s) => {
    setCsrf(s.csrfToken);
    signIn(s.user);
    return route();
  })
  .catch(() => signedOut());
