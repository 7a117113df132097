import type { SecureContextOptions, TlsOptions } from 'node:tls';

/**
 * The suites the server offers: TLS 1.3's three (all forward-secret AEAD by design), and for TLS 1.2
 * only ECDHE key exchange with an AEAD cipher (AES-GCM, ChaCha20-Poly1305), as current server
 * guidance (Mozilla "intermediate", BSI TR-02102-2) recommends. Left out on purpose: static RSA
 * key exchange (no forward secrecy: one stolen key decrypts every recorded session), CBC suites
 * (SHA-1 MACs, padding-oracle history), DHE (Node has no DH parameters unless given, and finite-field
 * DHE adds nothing over ECDHE here), and CCM/ARIA/CAMELLIA (no reason to offer more than two ciphers).
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
] as const;

/**
 * The server's TLS settings, merged into its certificate and key: TLS 1.2 at least, the suites
 * above only, in the server's order of preference.
 */
export function tlsServerOptions(pair: { key: Buffer; cert: Buffer }): TlsOptions & SecureContextOptions {
  return {
    ...pair,
    minVersion: 'TLSv1.2',
    ciphers: TLS_CIPHERS.join(':'),
    honorCipherOrder: true,
  };
}
