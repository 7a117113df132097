export { type AuditEvent, AuditLog, type AuditRecord, type AuditVerdict } from './audit-log.ts';
