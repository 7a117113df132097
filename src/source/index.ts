export { checkAgainstSource, type SourceCheckOptions } from './check-against-source.ts';
export { copySql, type ReadRequest, readTable } from './copy-reader.ts';
export { CopyTextParser, parseField } from './copy-text-parser.ts';
export { DEFAULT_READER_ROLE, grantFor, grantStatements, tableGrant } from './grants.ts';
export { introspect, type PgQueryable } from './introspect.ts';
export { connectSource, databaseOf } from './pg-source.ts';
export { kindOfPgType, type SourceColumn, type SourceTable } from './source-schema.ts';
export { describeUrl, quoteIdent, quoteLiteral } from './sql-text.ts';
export { classByName, suggestPolicy } from './suggest-policy.ts';
