import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

const MAX_BODY = 256 * 1024;

/**
 * One HTTP(S) request with a deadline and a bounded body. Certificates are verified unless
 * `insecure` (used for loopback only, where a self-signed certificate is normal).
 */
export function httpAnswer(
  url: URL,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    insecure?: boolean;
    timeoutMs?: number;
  },
): Promise<HttpAnswer> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: opts.method ?? 'GET',
        headers: opts.headers ?? {},
        timeout: opts.timeoutMs ?? 5000,
        ...(url.protocol === 'https:' ? { rejectUnauthorized: opts.insecure !== true } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_BODY) chunks.push(c);
          size += c.length;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8').slice(0, MAX_BODY),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** What became of an alert POSTed to a webhook: the receiver's status, or why it was not sent. */
export type WebhookOutcome = { readonly status: number } | { readonly error: string };

/** POSTs one JSON alert to a webhook; never throws (the outcome is logged and audited by the caller). */
export async function postWebhook(url: string, alert: unknown): Promise<WebhookOutcome> {
  try {
    const a = await httpAnswer(new URL(url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alert),
    });
    return { status: a.status };
  } catch (error) {
    return { error: (error as { code?: string }).code ?? 'request failed' };
  }
}
