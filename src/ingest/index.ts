export { dropReasonLabel, IngestMetrics } from './ingest-metrics.ts';
export { type JsonField, jsonIdentifier, jsonValue, kindOfFormattedType } from './json-values.ts';
export { type MqttMessage, MqttSubscriber, type MqttSubscriberOptions } from './mqtt-subscriber.ts';
export {
  type IngestStats,
  type MessageSource,
  requireIngestTable,
  StreamIngest,
  type StreamIngestOptions,
} from './stream-ingest.ts';
