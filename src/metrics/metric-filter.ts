import { FvError } from '../errors/index.ts';

/** How filters are written where they are read: the parameter's name and its separator. */
export interface FilterSyntax {
  /** As the asker wrote it: `filter` (API, dashboard) or `--filter` (CLI). */
  readonly name: string;
  readonly separator: ':' | '=';
}

/** The API's (and dashboard's) `filter=dimension:v1,v2`, repeatable. */
export const API_FILTER: FilterSyntax = { name: 'filter', separator: ':' };
/** The CLI's `--filter dimension=v1,v2`, repeatable. */
export const CLI_FILTER: FilterSyntax = { name: '--filter', separator: '=' };

/**
 * Filters as written (`dimension<sep>v1,v2`, one per occurrence) read into dimension → values, or
 * refused whole (FV_METRIC_QUERY, before anything is answered or paid for): a filter without its
 * separator, with the other one in its place, with no dimension or an empty value, or a dimension
 * filtered twice is never silently dropped or merged. The text itself is not echoed back.
 */
export function parseFilters(texts: readonly string[], syntax: FilterSyntax): Record<string, string[]> {
  const { name, separator } = syntax;
  const other = separator === ':' ? '=' : ':';
  const example = `${name === 'filter' ? 'filter=' : '--filter '}devices.region${separator}eu-west,eu-north`;
  const filters = new Map<string, string[]>();
  texts.forEach((text, i) => {
    const which = texts.length > 1 ? `${name} number ${i + 1}` : name;
    const refuse = (why: string) =>
      new FvError(
        'FV_METRIC_QUERY',
        `${which} must be written dimension${separator}value[,value…], such as ${example}: ${why}`,
      );
    const at = text.indexOf(separator);
    if (at < 0)
      throw refuse(
        text.includes(other) ? `it has "${other}" where "${separator}" belongs` : `it has no "${separator}"`,
      );
    const dim = text.slice(0, at).trim();
    if (dim === '') throw refuse('the dimension before it is missing');
    if (/[:=,\s]/.test(dim)) throw refuse(`the dimension holds "${other}", "," or a space`);
    const values = text
      .slice(at + 1)
      .split(',')
      .map((v) => v.trim());
    if (values.some((v) => v === '')) throw refuse('a value is empty');
    if (filters.has(dim))
      throw refuse(`${dim} is filtered twice; give its values together, separated by ","`);
    filters.set(dim, values);
  });
  return Object.fromEntries(filters);
}
