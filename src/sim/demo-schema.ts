/** The demo production schema of DESIGN.md, modelled on what leaked in 2019. */
export const DEMO_TABLES = [
  'users',
  'devices',
  'device_shares',
  'app_sessions',
  'integrations',
  'connection_events',
  'scale_measurements',
] as const;

export const DEMO_DDL = `
CREATE TABLE users (
  id bigint PRIMARY KEY, email text NOT NULL, display_name text, password_hash text NOT NULL,
  phone text, birth_date date, country text NOT NULL, timezone text,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, deleted_at timestamptz);
CREATE TABLE devices (
  id bigint PRIMARY KEY, user_id bigint NOT NULL, mac text NOT NULL, serial text NOT NULL,
  product_model text NOT NULL, firmware_version text NOT NULL, nickname text, wifi_ssid text,
  local_ip inet, region text NOT NULL, activated_at timestamptz, last_seen_at timestamptz,
  updated_at timestamptz NOT NULL);
CREATE TABLE device_shares (
  id bigint PRIMARY KEY, device_id bigint NOT NULL, shared_with_email text NOT NULL,
  created_at timestamptz NOT NULL);
CREATE TABLE app_sessions (
  id bigint PRIMARY KEY, user_id bigint NOT NULL, api_token text NOT NULL, platform text NOT NULL,
  app_version text NOT NULL, last_login_at timestamptz NOT NULL, last_logout_at timestamptz);
CREATE TABLE integrations (
  id bigint PRIMARY KEY, user_id bigint NOT NULL, provider text NOT NULL, access_token text NOT NULL,
  refresh_token text, linked_at timestamptz NOT NULL);
CREATE TABLE connection_events (
  id bigint PRIMARY KEY, device_id bigint NOT NULL, ts timestamptz NOT NULL, outcome text NOT NULL,
  error_code text, rssi integer, duration_ms integer, client_ip inet, app_version text);
CREATE TABLE scale_measurements (
  id bigint PRIMARY KEY, user_id bigint NOT NULL, ts timestamptz NOT NULL, height_cm numeric(5,1),
  weight_kg numeric(5,1), body_fat_pct numeric(4,1), gender text);
`;

/** Added after loading: bulk validation is far faster than row by row. */
export const DEMO_CONSTRAINTS = `
ALTER TABLE devices ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE device_shares ADD FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE;
ALTER TABLE app_sessions ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE integrations ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE connection_events ADD FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE;
ALTER TABLE scale_measurements ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX ON users (updated_at, id);
CREATE INDEX ON devices (user_id);
CREATE INDEX ON devices (updated_at, id);
CREATE INDEX ON device_shares (device_id);
CREATE INDEX ON app_sessions (user_id);
CREATE INDEX ON integrations (user_id);
CREATE INDEX ON connection_events (device_id);
CREATE INDEX ON scale_measurements (user_id);
ANALYZE;
`;
