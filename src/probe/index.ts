export {
  type ExposureAlert,
  ExposureMonitor,
  type ExposureMonitorOptions,
  type ExposureState,
} from './exposure-monitor.ts';
export { type HttpAnswer, httpAnswer, postWebhook, type WebhookOutcome } from './http-request.ts';
export { KNOWN_ROUTES } from './known-routes.ts';
export {
  type FindingKind,
  type ProbeFinding,
  type ProbeReport,
  type ProbeRoute,
  probeDeployment,
  ROUTE_KINDS,
  type RouteKind,
} from './probe-deployment.ts';
