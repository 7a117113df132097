import { type MetricsFile, parseMetrics } from '../../src/metrics/index.ts';

/**
 * The body of a metric over the demo's connection events joined to their device, counted per
 * user (the privacy unit), by `dimensions`: indented to follow `measure:` in a metrics file.
 */
export function overEvents(dimensions: readonly string[]): string {
  return `from: connection_events
    join: { devices: { on: [device_id, id] } }
    unit: devices.user_id
    time: ts
    dimensions: [${dimensions.join(', ')}]`;
}

/** The metrics of `measures` (name, measure), each over the events by `dimensions`, as YAML lines. */
export function eventMetricsYaml(
  measures: ReadonlyArray<readonly [string, string]>,
  dimensions: readonly string[],
): string {
  return measures
    .map(([name, measure]) => `  ${name}:\n    measure: ${measure}\n    ${overEvents(dimensions)}\n`)
    .join('');
}

/** A metrics file (privacy unit: user) of `measures`, each over the events by `dimensions`. */
export function eventMetrics(
  measures: ReadonlyArray<readonly [string, string]>,
  dimensions: readonly string[],
  file: string,
): MetricsFile {
  return parseMetrics(
    `version: 1\nprivacy_unit: user\nmetrics:\n${eventMetricsYaml(measures, dimensions)}`,
    file,
  );
}
