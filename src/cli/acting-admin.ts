import { readFileSync } from 'node:fs';
import type { Signer } from '../approvals/index.ts';
import { FvError } from '../errors/index.ts';
import type { Principal } from '../identity/index.ts';
import type { stateFiles } from './server-commands.ts';

type Files = ReturnType<typeof stateFiles>;

/**
 * Who is acting, with the secret that opens their own signing key: an account (`--user`, password
 * from FLEETVAULT_PASSWORD or --password-stdin) or a token (`--token` or FLEETVAULT_TOKEN).
 */
export async function identify(
  opts: Record<string, unknown>,
  files: Files,
): Promise<{ who: Principal | undefined; secret: string }> {
  const token = typeof opts.token === 'string' ? opts.token : process.env.FLEETVAULT_TOKEN;
  const user = typeof opts.user === 'string' ? opts.user : undefined;
  if (user !== undefined) {
    const password =
      opts.passwordStdin === true
        ? readFileSync(0, 'utf8').replace(/\r?\n$/, '')
        : process.env.FLEETVAULT_PASSWORD;
    if (!password)
      throw new FvError(
        'FV_USAGE',
        `give the password of ${user} in FLEETVAULT_PASSWORD or with --password-stdin`,
      );
    return { who: await files.users.verify(user, password), secret: password };
  }
  if (token) {
    const r = files.tokens.authenticate(`Bearer ${token}`);
    return { who: r.ok ? r.principal : undefined, secret: token };
  }
  throw new FvError(
    'FV_USAGE',
    'say who you are: --user <admin name> (password in FLEETVAULT_PASSWORD) or --token <admin token>',
  );
}

/** The acting admin's own signing key. The two-person rule compares these ids. */
export async function actingAdmin(opts: Record<string, unknown>, files: Files): Promise<Signer> {
  const { who, secret } = await identify(opts, files);
  if (who && files.approvals.needsReenrol(who)) throw files.approvals.reenrolError(who);
  if (who?.role !== 'admin' || !files.approvals.admits(who)) {
    files.audit.append({ actor: 'cli', action: 'approvals.auth', outcome: 'refused' });
    throw new FvError(
      'FV_APPROVAL_INVALID',
      'those credentials are not an active admin’s in the signed security state',
    );
  }
  // The admin's own key, opened with their own secret: nobody else's files can sign for them.
  return files.approvals.signer(who, secret);
}
