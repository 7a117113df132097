export { jsonValue, kindOfFormattedType } from './json-values.ts';
export { type MqttMessage, MqttSubscriber, type MqttSubscriberOptions } from './mqtt-subscriber.ts';
export {
  type IngestStats,
  type MessageSource,
  StreamIngest,
  type StreamIngestOptions,
} from './stream-ingest.ts';
