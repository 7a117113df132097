import {
  type Answer,
  ApiError,
  type AuditRecords,
  type AuditVerdict,
  api,
  type Catalogue,
  metricQuery,
  type ProposalList,
  type ProposalView,
  type RegressionReport,
  type SessionAnswer,
  type SessionUser,
  type SqlAnswer,
  type StatusAnswer,
  setCsrf,
  type TokenCreated,
  type TokenList,
  type UserCreated,
  type UserList,
} from './api.ts';
import { answerChart, answerCsv, answerTable, shownGroups } from './chart.ts';
import { el, formatValue, GRAIN_WORD } from './format.ts';
import { whatChanged } from './what-changed.ts';

type Render = (root: HTMLElement, user: SessionUser) => Promise<void>;

export function loading(root: HTMLElement, what: string): void {
  root.replaceChildren(el('p', { class: 'loading', role: 'status' }, `Loading ${what}…`));
}

export function errorBox(e: unknown): HTMLElement {
  const msg = e instanceof ApiError ? `${e.message} (${e.code})` : 'Something went wrong. Try again.';
  return el('p', { class: 'error', role: 'alert' }, msg);
}

export function loginView(root: HTMLElement, onLogin: (u: SessionUser) => void): void {
  const name = el('input', { id: 'name', name: 'name', autocomplete: 'username', required: '' });
  const password = el('input', {
    id: 'password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: '',
  });
  const status = el('p', { role: 'status' });
  const form = el(
    'form',
    { class: 'login' },
    el('h1', {}, 'Sign in to fleetvault'),
    el('label', { for: 'name' }, 'User name'),
    name,
    el('label', { for: 'password' }, 'Password'),
    password,
    el('button', { type: 'submit' }, 'Sign in'),
    status,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.textContent = 'Signing in…';
    try {
      const r = await api<SessionAnswer>('POST', '/api/v1/login', {
        name: name.value,
        password: password.value,
      });
      setCsrf(r.csrfToken);
      onLogin(r.user);
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
  });
  root.replaceChildren(form);
  name.focus();
}

function tile(label: string, value: string, hint: string): HTMLElement {
  return el(
    'div',
    { class: 'tile' },
    el('div', { class: 'tile-label' }, label),
    el('div', { class: 'tile-value', 'data-testid': label }, value),
    el('div', { class: 'tile-hint' }, hint),
  );
}

function lastVisible(a: Answer): { period: string; value: number | null } {
  const t = [...a.totals].reverse().find((g) => g.suppressed === 'none');
  return { period: t?.period ?? '-', value: t ? (t.values[a.outputs[0] ?? 'value'] ?? null) : null };
}

export const overviewView: Render = async (root) => {
  loading(root, 'the overview');
  // The detection reads several answers on a cold store; the rest of the page does not wait for it.
  const lead = el(
    'div',
    { class: 'what-changed-slot' },
    el(
      'section',
      { class: 'what-changed', 'aria-busy': 'true' },
      el('h2', {}, 'What changed'),
      el('p', { class: 'loading', role: 'status' }, 'Looking for significant changes…'),
    ),
  );
  const changed = api<RegressionReport>('GET', '/api/v1/regressions')
    .then((report) => lead.replaceChildren(whatChanged(report)))
    .catch((e: unknown) =>
      lead.replaceChildren(
        el('section', { class: 'what-changed' }, el('h2', {}, 'What changed'), errorBox(e)),
      ),
    );
  const [act, active, fail] = await Promise.all([
    metricQuery('activations', { grain: 'week', by: ['product_model'] }),
    metricQuery('active_devices', { grain: 'week' }),
    metricQuery('connection_failure_rate', { grain: 'week', by: ['devices.product_model'] }),
  ]);
  const a = lastVisible(act);
  const d = lastVisible(active);
  const f = lastVisible(fail);
  root.replaceChildren(
    el('h1', {}, 'Fleet overview'),
    lead,
    el(
      'div',
      { class: 'tiles' },
      tile('Activations', formatValue(a.value, 'count'), `week of ${a.period}`),
      tile('Active devices', formatValue(d.value, 'count'), `week of ${d.period}`),
      tile('Failure rate', formatValue(f.value, 'ratio'), `week of ${f.period}`),
    ),
    el(
      'p',
      { class: 'note' },
      `Weekly, ${act.from} to ${act.to} (UTC). Every group has at least k = ${act.k} users; smaller ones are suppressed.`,
    ),
    el('section', {}, el('h2', {}, 'Connection failure rate by product'), answerChart(fail)),
    el('section', {}, el('h2', {}, 'Activations by product'), answerChart(act)),
    el('section', {}, el('h2', {}, 'Active devices'), answerChart(active)),
  );
  await changed;
};

/** Explore's state, kept in the URL (`#/explore?metric=…&by=a,b…`) so a link restores the view. */
interface ExploreState {
  metric: string;
  grain: string;
  by: string[];
  from: string;
  to: string;
  filterDim: string;
  filterValues: string[];
}

function readExploreState(): Partial<ExploreState> {
  const q = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const list = (v: string | null) => (v ? v.split(',').filter(Boolean) : []);
  const [filterDim, values] = (q.get('filter') ?? '').split(':');
  return {
    ...(q.get('metric') ? { metric: q.get('metric') as string } : {}),
    ...(q.get('grain') ? { grain: q.get('grain') as string } : {}),
    ...(q.has('by') ? { by: list(q.get('by')) } : {}),
    from: q.get('from') ?? '',
    to: q.get('to') ?? '',
    filterDim: filterDim ?? '',
    filterValues: list(values ?? null),
  };
}

function exploreHash(st: ExploreState): string {
  const q = new URLSearchParams({ metric: st.metric, grain: st.grain, by: st.by.join(',') });
  if (st.from) q.set('from', st.from);
  if (st.to) q.set('to', st.to);
  if (st.filterDim && st.filterValues.length) q.set('filter', `${st.filterDim}:${st.filterValues.join(',')}`);
  return `#/explore?${q}`;
}

function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Under differential privacy: what the answer cost and what is left of the viewer's budget. */
function privacyNote(answer: Answer): HTMLElement[] {
  const p = answer.privacy;
  if (!p) return [];
  const b = p.budget;
  const cost = b
    ? b.cached
      ? 'already answered in this window: free'
      : `cost ε ${b.spent}`
    : `ε ${p.epsilon}`;
  const left = b
    ? ` Your budget: ε ${b.remaining} of ${b.epsilon} left this ${b.window}, renewing ${b.renewsAt.replace('T', ' ').slice(0, 16)} UTC.`
    : '';
  return [
    el(
      'p',
      { class: 'note privacy', 'data-testid': 'privacy-budget' },
      `Differential privacy: values are noised (${cost}); each shows its 95 % interval; rare groups are not released.${left}`,
    ),
  ];
}

export const exploreView: Render = async (root) => {
  loading(root, 'the metric catalogue');
  const { metrics } = await api<Catalogue>('GET', '/api/v1/metrics');
  const initial = readExploreState();
  const select = (id: string, options: string[], value?: string) => {
    const s = el(
      'select',
      { id, name: id },
      ...options.map((o) => el('option', { value: o }, o || '(none)')),
    );
    if (value !== undefined) s.value = value;
    return s;
  };
  const names = metrics.map((m) => m.name);
  const metric = select(
    'metric',
    names,
    names.includes(initial.metric ?? '') ? initial.metric : 'connection_failure_rate',
  );
  const grain = select('grain', ['day', 'week', 'month'], initial.grain ?? 'week');
  const byBox = el('fieldset', { class: 'by', id: 'by' }, el('legend', {}, 'Break down by'));
  const filterDim = select('filter-dim', ['']);
  const filterValue = el('input', {
    id: 'filter-value',
    placeholder: 'value, value…',
    'aria-label': 'Filter values',
  });
  filterValue.value = (initial.filterValues ?? []).join(', ');
  const from = el('input', { id: 'from', type: 'date' });
  const to = el('input', { id: 'to', type: 'date' });
  from.value = initial.from ?? '';
  to.value = initial.to ?? '';
  const out = el('div', { id: 'result' });
  const checked = () =>
    [...byBox.querySelectorAll<HTMLInputElement>('input[type=checkbox]')]
      .filter((c) => c.checked)
      .map((c) => c.value);
  const dims = (want?: readonly string[], filter?: string) => {
    const m = metrics.find((x) => x.name === metric.value);
    const available = m?.dimensions ?? [];
    const on = new Set((want ?? available.slice(0, 1)).filter((d) => available.includes(d)));
    byBox.replaceChildren(
      el('legend', {}, 'Break down by'),
      ...available.map((d) => {
        const box = el('input', { type: 'checkbox', name: 'by', value: d, id: `by-${d}` });
        box.checked = on.has(d);
        return el('label', { class: 'check', for: `by-${d}` }, box, ` ${d}`);
      }),
    );
    filterDim.replaceChildren(...['', ...available].map((o) => el('option', { value: o }, o || '(none)')));
    filterDim.value = filter && available.includes(filter) ? filter : '';
  };
  metric.addEventListener('change', () => dims());
  dims(initial.by, initial.filterDim);
  let latest = 0;
  let shown: Answer | null = null;
  const csv = el('button', { type: 'button', id: 'csv', disabled: '' }, 'Download CSV');
  csv.addEventListener('click', () => {
    if (shown) download(`${shown.metric}-${shown.grain}-${shown.from}-${shown.to}.csv`, answerCsv(shown));
  });
  const run = async () => {
    const mine = ++latest;
    const state: ExploreState = {
      metric: metric.value,
      grain: grain.value,
      by: checked(),
      from: from.value,
      to: to.value,
      filterDim: filterDim.value,
      filterValues: filterValue.value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean),
    };
    history.replaceState(null, '', exploreHash(state));
    if (state.from && state.to && state.to < state.from) {
      shown = null;
      csv.setAttribute('disabled', '');
      out.replaceChildren(
        el(
          'p',
          { class: 'error', role: 'alert' },
          'The “To” date is before the “From” date. Pick a later “To” date.',
        ),
      );
      return;
    }
    out.replaceChildren(el('p', { class: 'loading', role: 'status' }, 'Loading…'));
    try {
      const answer = await metricQuery(state.metric, {
        grain: state.grain,
        by: state.by,
        ...(state.from ? { from: state.from } : {}),
        ...(state.to ? { to: state.to } : {}),
        filters:
          state.filterDim && state.filterValues.length ? { [state.filterDim]: state.filterValues } : {},
      });
      // A slower, earlier answer must not replace a newer one.
      if (mine !== latest) return;
      shown = answer;
      csv.removeAttribute('disabled');
      const note = el(
        'p',
        { class: 'note' },
        `${answer.description}: ${GRAIN_WORD[answer.grain] ?? answer.grain} from ${answer.from} to ${answer.to} (exclusive)${answer.by.length ? `, by ${answer.by.join(' × ')}` : ''}, k = ${answer.k}.`,
      );
      const dp = privacyNote(answer);
      if (shownGroups(answer).length)
        out.replaceChildren(note, ...dp, answerChart(answer), answerTable(answer));
      else out.replaceChildren(note, ...dp, el('p', { class: 'empty' }, 'No data in this range.'));
    } catch (e) {
      if (mine !== latest) return;
      shown = null;
      csv.setAttribute('disabled', '');
      out.replaceChildren(errorBox(e));
    }
  };
  const form = el(
    'form',
    { class: 'controls' },
    el('label', {}, 'Metric ', metric),
    el('label', {}, 'Grain ', grain),
    byBox,
    el('label', {}, 'From ', from),
    el('label', {}, 'To ', to),
    el('label', {}, 'Filter ', filterDim, filterValue),
    el('button', { type: 'submit' }, 'Run'),
    csv,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void run();
  });
  root.replaceChildren(
    el('h1', {}, 'Explore metrics'),
    form,
    el('p', { class: 'note' }, 'The address bar holds this view: copy it to share exactly what you see.'),
    out,
  );
  await run();
};

export const sqlView: Render = async (root, user) => {
  if (user.role === 'viewer') {
    root.replaceChildren(
      el('h1', {}, 'SQL console'),
      el('p', { class: 'error', role: 'alert' }, 'The SQL console needs the analyst role. Ask an admin.'),
    );
    return;
  }
  const text = el('textarea', { id: 'sql', rows: '6', spellcheck: 'false', 'aria-label': 'SQL' });
  text.value = 'SELECT product_model, count(*) AS devices FROM devices GROUP BY 1 ORDER BY 2 DESC';
  const out = el('div', { id: 'sql-result' });
  const run = async () => {
    out.replaceChildren(el('p', { class: 'loading', role: 'status' }, 'Running…'));
    try {
      const r = await api<SqlAnswer>('POST', '/api/v1/sql', { sql: text.value });
      out.replaceChildren(
        el('p', { class: 'note' }, `${r.rows.length} row(s)${r.truncated ? ' (capped)' : ''}`),
        el(
          'div',
          { class: 'table-wrap' },
          el(
            'table',
            {},
            el('thead', {}, el('tr', {}, ...r.columns.map((c) => el('th', {}, c)))),
            el(
              'tbody',
              {},
              ...r.rows.map((row) =>
                el(
                  'tr',
                  {},
                  ...row.map((v) =>
                    el('td', {}, v === null ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v)),
                  ),
                ),
              ),
            ),
          ),
        ),
      );
    } catch (e) {
      out.replaceChildren(errorBox(e));
    }
  };
  text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) void run();
  });
  const button = el('button', { type: 'button', id: 'run-sql' }, 'Run (Ctrl+Enter)');
  button.addEventListener('click', () => void run());
  root.replaceChildren(
    el('h1', {}, 'SQL console'),
    el(
      'p',
      { class: 'note' },
      'One read-only SELECT over the pseudonymized analytics tables; at most 1,000 rows and 5 seconds.',
    ),
    text,
    button,
    out,
  );
};

export const adminView: Render = async (root, user) => {
  if (user.role !== 'admin') {
    root.replaceChildren(
      el('h1', {}, 'Admin'),
      el('p', { class: 'error', role: 'alert' }, 'Admin pages need the admin role.'),
    );
    return;
  }
  loading(root, 'tokens and audit');
  const [users, tokens, audit, approvals] = await Promise.all([
    api<UserList>('GET', '/api/v1/users'),
    api<TokenList>('GET', '/api/v1/tokens'),
    api<AuditRecords>('GET', '/api/v1/audit?limit=100'),
    api<ProposalList>('GET', '/api/v1/approvals'),
  ]);
  const tokenRows = tokens.tokens.map((t) => {
    const revoke = el('button', { type: 'button' }, 'Revoke');
    revoke.addEventListener('click', async () => {
      await api('DELETE', `/api/v1/tokens/${t.id}`);
      await adminView(root, user);
    });
    return el(
      'tr',
      {},
      el('td', {}, t.id),
      el('td', {}, t.name),
      el('td', {}, t.role),
      el('td', {}, t.expiresAt ?? 'never'),
      el('td', {}, t.revokedAt ? 'revoked' : revoke),
    );
  });
  const shownOnce = el('p', { role: 'status', id: 'shown-once' });
  const roleSelect = () =>
    el('select', {}, ...['viewer', 'analyst', 'admin'].map((r) => el('option', { value: r }, r)));
  const approvalInput = (id: string) =>
    el('input', { id, placeholder: 'approval id (above viewer)', 'aria-label': 'Approval id', size: '12' });
  const userName = el('input', { id: 'new-user', placeholder: 'name', 'aria-label': 'New account name' });
  const userRole = roleSelect();
  const userApproval = approvalInput('user-approval');
  const userForm = el(
    'form',
    { class: 'controls' },
    userName,
    userRole,
    userApproval,
    el('button', { type: 'submit' }, 'Add account'),
  );
  userForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: userName.value, role: userRole.value };
    try {
      const r = await api<UserCreated>('POST', '/api/v1/users', {
        ...body,
        ...(userApproval.value ? { approval: userApproval.value.trim() } : {}),
      });
      await adminView(root, user);
      (document.getElementById('shown-once') as HTMLElement).textContent =
        `Initial password for ${r.name}, shown once: ${r.password}`;
    } catch (e) {
      shownOnce.replaceChildren(errorBox(e), ...proposeInstead(e, { type: 'user', ...body }));
    }
  });
  /** A creation refused for want of approval offers to propose it to a second admin. */
  const proposeInstead = (
    e: unknown,
    principal: { type: string; role: string; name: string },
  ): HTMLElement[] => {
    if (!(e instanceof ApiError) || e.code !== 'FV_APPROVAL_REQUIRED') return [];
    const reason = el('input', {
      id: 'propose-reason',
      placeholder: 'why (shown to the approver)',
      'aria-label': 'Reason',
    });
    const propose = el('button', { type: 'button' }, 'Propose to a second admin');
    propose.addEventListener('click', async () => {
      try {
        const v = await api<ProposalView>('POST', '/api/v1/approvals', { reason: reason.value, principal });
        await adminView(root, user);
        (document.getElementById('shown-once') as HTMLElement).textContent =
          `Proposal ${v.proposal.id} waits for a second admin. Once approved, create it again with that approval id.`;
      } catch (err) {
        shownOnce.replaceChildren(errorBox(err));
      }
    });
    return [el('span', { class: 'controls' }, reason, propose)];
  };
  const tokenName = el('input', {
    id: 'new-token',
    placeholder: 'what it is for',
    'aria-label': 'New token name',
  });
  const tokenRole = roleSelect();
  const tokenApproval = approvalInput('token-approval');
  const tokenForm = el(
    'form',
    { class: 'controls' },
    tokenName,
    tokenRole,
    tokenApproval,
    el('button', { type: 'submit' }, 'Create token (30 days)'),
  );
  tokenForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: tokenName.value, role: tokenRole.value };
    try {
      const r = await api<TokenCreated>('POST', '/api/v1/tokens', {
        ...body,
        days: 30,
        ...(tokenApproval.value ? { approval: tokenApproval.value.trim() } : {}),
      });
      await adminView(root, user);
      (document.getElementById('shown-once') as HTMLElement).textContent =
        `New token, shown once: ${r.token}`;
    } catch (e) {
      shownOnce.replaceChildren(errorBox(e), ...proposeInstead(e, { type: 'token', ...body }));
    }
  });
  const proposalRows = approvals.proposals.map((v) => {
    const p = v.proposal;
    const actions = el('td', {});
    if (p.status === 'pending') {
      for (const verdict of ['approve', 'reject'] as const) {
        const b = el(
          'button',
          { type: 'button', 'data-proposal': p.id },
          verdict === 'approve' ? 'Approve' : 'Reject',
        );
        b.addEventListener('click', async () => {
          try {
            await api('POST', `/api/v1/approvals/${p.id}/${verdict}`);
            await adminView(root, user);
            (document.getElementById('shown-once') as HTMLElement).textContent =
              `Proposal ${p.id} ${verdict === 'approve' ? 'approved' : 'rejected'}.`;
          } catch (e) {
            shownOnce.replaceChildren(errorBox(e));
          }
        });
        actions.append(b);
      }
    }
    return el(
      'tr',
      {},
      el('td', {}, p.id),
      el('td', {}, p.status),
      el('td', {}, p.proposedBy),
      el('td', {}, p.reason),
      el(
        'td',
        {},
        el(
          'ul',
          { class: 'diff' },
          ...v.differences.map((d) => el('li', {}, `${d.field}: ${d.approved} → ${d.configured}`)),
        ),
      ),
      el('td', {}, p.expiresAt.slice(0, 16).replace('T', ' ')),
      actions,
    );
  });
  root.replaceChildren(
    el('h1', {}, 'Admin'),
    shownOnce,
    el('h2', {}, 'Approvals (two-person rule)'),
    el(
      'p',
      { class: 'note' },
      'Weakening a security setting, or a token or account above viewer, needs a second admin. You cannot approve your own proposal.',
    ),
    proposalRows.length
      ? el(
          'div',
          { class: 'table-wrap' },
          el(
            'table',
            { id: 'proposals' },
            el(
              'thead',
              {},
              el(
                'tr',
                {},
                ...['id', 'status', 'proposed by', 'reason', 'exact change', 'expires', ''].map((h) =>
                  el('th', {}, h),
                ),
              ),
            ),
            el('tbody', {}, ...proposalRows),
          ),
        )
      : el('p', { class: 'empty' }, 'No proposals.'),
    el('h2', {}, 'Accounts'),
    userForm,
    el(
      'table',
      {},
      el('thead', {}, el('tr', {}, ...['id', 'name', 'role', 'created'].map((h) => el('th', {}, h)))),
      el(
        'tbody',
        {},
        ...users.users.map((u) =>
          el(
            'tr',
            {},
            el('td', {}, u.id),
            el('td', {}, u.name),
            el('td', {}, u.role),
            el('td', {}, u.createdAt.slice(0, 10)),
          ),
        ),
      ),
    ),
    el('h2', {}, 'API tokens'),
    tokenForm,
    tokenRows.length
      ? el(
          'table',
          {},
          el('thead', {}, el('tr', {}, ...['id', 'name', 'role', 'expires', ''].map((h) => el('th', {}, h)))),
          el('tbody', {}, ...tokenRows),
        )
      : el('p', { class: 'empty' }, 'No tokens.'),
    el('h2', {}, 'Audit log (newest first)'),
    el(
      'div',
      { class: 'table-wrap' },
      el(
        'table',
        {},
        el(
          'thead',
          {},
          el('tr', {}, ...['#', 'time', 'actor', 'action', 'outcome'].map((h) => el('th', {}, h))),
        ),
        el(
          'tbody',
          {},
          ...audit.records.map((r) =>
            el(
              'tr',
              {},
              el('td', {}, String(r.seq)),
              el('td', {}, r.ts),
              el('td', {}, r.actor),
              el('td', {}, r.action),
              el('td', {}, r.outcome),
            ),
          ),
        ),
      ),
    ),
  );
};

export const privacyView: Render = async (root, user) => {
  loading(root, 'privacy status');
  const status = await api<StatusAnswer>('GET', '/api/v1/status');
  let chain: HTMLElement = el('p', { class: 'note' }, 'Audit chain status: visible to admins.');
  if (user.role === 'admin') {
    const v = await api<AuditVerdict>('GET', '/api/v1/audit/verify');
    chain = el(
      'p',
      { class: v.ok ? 'ok' : 'error', 'data-testid': 'audit-chain' },
      v.ok
        ? `Audit chain intact (${v.records} records).`
        : `Audit chain broken at record ${v.firstBad?.line}: ${v.firstBad?.reason}`,
    );
  }
  const cov = status.coverage ?? {};
  root.replaceChildren(
    el('h1', {}, 'Privacy & security'),
    el(
      'div',
      { class: 'tiles' },
      tile('k', String(status.k), 'minimum users per group'),
      tile('Last sync', status.lastSync ? status.lastSync.slice(0, 16).replace('T', ' ') : 'never', 'UTC'),
      tile('Never read', String(cov.neverRead ?? 0), 'secret columns'),
    ),
    el('h2', {}, 'Policy coverage (columns)'),
    el(
      'table',
      {},
      el(
        'tbody',
        {},
        ...['copied', 'pseudonymized', 'generalized', 'dropped', 'neverRead'].map((k) =>
          el(
            'tr',
            {},
            el('th', {}, k === 'neverRead' ? 'never read' : k),
            el('td', { class: 'num' }, String(cov[k] ?? 0)),
          ),
        ),
      ),
    ),
    el('h2', {}, 'Audit'),
    chain,
    el('h2', {}, 'Tables'),
    el(
      'table',
      {},
      el(
        'tbody',
        {},
        ...(status.tables ?? []).map((t) =>
          el(
            'tr',
            {},
            el('th', {}, t.name),
            el(
              'td',
              { class: 'num' },
              t.rows === null ? 'not shown (differential privacy)' : t.rows.toLocaleString('en-US'),
            ),
          ),
        ),
      ),
    ),
  );
};
