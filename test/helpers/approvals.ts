import { Approvals } from '../../src/approvals/index.ts';
import { AuditLog } from '../../src/audit/index.ts';

/** A server's audit log and the approvals that share it, in one state folder. */
export function auditWithApprovals(
  dir: string,
  auditFile: string,
): { audit: AuditLog; approvals: Approvals } {
  const audit = new AuditLog(auditFile);
  return { audit, approvals: new Approvals(dir, audit) };
}
