import { describe, expect, it } from 'vitest';
import { describeClickHouseError } from './clickhouse-node.ts';

describe('describeClickHouseError', () => {
  it("keeps the server's sentence and code, never the data it quotes (18.16 and current servers)", () => {
    const old = new Error(
      "Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 62 (line 1, col 62): 'alice@example.com' …, e.what() = DB::Exception",
    );
    expect(describeClickHouseError(old)).toBe('Syntax error (code 62)');
    const current = new Error(
      "Code: 27. DB::Exception: Cannot parse input: expected '\\t' before: 'alice@example.com': (at row 1) (CANNOT_PARSE_INPUT_ASSERTION_FAILED) (version 24.8.1)",
    );
    expect(describeClickHouseError(current)).toBe('Cannot parse input (code 27)');
    expect(
      describeClickHouseError(
        new Error(
          'Code: 193, e.displayText() = DB::Exception: Wrong password for user fv, e.what() = DB::Exception',
        ),
      ),
    ).toBe('Wrong password for user fv (code 193)');
    // The client parses a current server's error: the code on the error, the sentence alone.
    const parsed = Object.assign(
      new Error("Query memory limit exceeded: would use 4.00 MiB, 'alice@example.com'"),
      { code: '241', type: 'MEMORY_LIMIT_EXCEEDED' },
    );
    expect(describeClickHouseError(parsed)).toBe('Query memory limit exceeded (code 241)');
    expect(describeClickHouseError(new Error('connect ECONNREFUSED 127.0.0.1:8123'))).toBe(
      'not reachable (ECONNREFUSED)',
    );
  });
});
