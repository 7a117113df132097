export {
  type CdcGrantOptions,
  cdcGrantStatements,
  DEFAULT_PUBLICATION,
  DEFAULT_REPLICATION_ROLE,
  GUARD_SQLSTATE,
  peekFunctionSql,
  publicationSql,
  publishedColumns,
  replicaIdentitySql,
} from './change-gate.ts';
export { ChangeSlot, PUBLICATION_NAME, type SlotAccess, slotReadError } from './change-slot.ts';
export { checkAgainstSource, type SourceCheckOptions } from './check-against-source.ts';
export {
  changeCaptureProblems,
  publicationProblems,
  replicaIdentityProblems,
} from './check-change-capture.ts';
export { copySql, type ReadRequest, readTable } from './copy-reader.ts';
export { CopyTextParser, parseField } from './copy-text-parser.ts';
export { DEFAULT_READER_ROLE, grantFor, grantStatements, tableGrant } from './grants.ts';
export { introspect, type PgQueryable } from './introspect.ts';
export { connectSource, databaseOf } from './pg-source.ts';
export { pgTextValue } from './pg-text-value.ts';
export { decodePgoutput, formatLsn, type PgoutputMessage, parseLsn, type TupleValue } from './pgoutput.ts';
export { isPostgresUrl, sourceError } from './source-errors.ts';
export {
  type ForeignKey,
  kindOfPgType,
  type RelationKind,
  type SourceColumn,
  type SourceTable,
} from './source-schema.ts';
export { describeUrl, quoteIdent, quoteLiteral } from './sql-text.ts';
export { classByName, suggestPolicy } from './suggest-policy.ts';
