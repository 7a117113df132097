import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { FvError } from '../errors/index.ts';

/** Where a password may come from: never a command line, which every user of the machine sees in `ps`. */
export interface SecretSource {
  /** What the password is for, in messages: "the ClickHouse password". */
  readonly what: string;
  /** A file holding it (its first line), readable by its owner only. */
  readonly file?: string;
  /** The environment variable naming such a file. */
  readonly fileVariable: string;
  /** The environment variable holding it. */
  readonly variable: string;
}

/**
 * A password from a 0600 file (named directly, or by `fileVariable`) or from `variable`, in that
 * order; '' when none is given. A file others may read is refused, like the key file; no message
 * ever repeats the password.
 *
 * @example
 * const password = readSecret({ what: 'the MQTT password', fileVariable: 'FLEETVAULT_MQTT_PASSWORD_FILE', variable: 'FLEETVAULT_MQTT_PASSWORD' });
 */
export function readSecret(source: SecretSource, env: NodeJS.ProcessEnv = process.env): string {
  const file = source.file ?? (env[source.fileVariable] || undefined);
  if (file === undefined) return env[source.variable] ?? '';
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY);
  } catch {
    throw new FvError(
      'FV_SECRET_FILE_INSECURE',
      `${source.what} file ${file} does not exist or cannot be read`,
    );
  }
  try {
    if ((fstatSync(fd).mode & 0o077) !== 0) {
      throw new FvError(
        'FV_SECRET_FILE_INSECURE',
        `${source.what} file ${file} is readable by group or others; run chmod 600 ${file}`,
      );
    }
    return readFileSync(fd, 'utf8').split(/\r?\n/)[0] ?? '';
  } finally {
    closeSync(fd);
  }
}

/** The refusal of a URL that carries a password: it would show in `ps` for as long as the command runs. */
export function secretInUrl(option: string, source: SecretSource, file?: string): FvError {
  return new FvError(
    'FV_SECRET_IN_URL',
    `${option} holds a password, which every user of this machine can read in the process list; remove it from the URL and put it in ${source.variable}, or in a file readable by you only named by ${source.fileVariable}${file ? ` or ${file}` : ''}`,
  );
}
