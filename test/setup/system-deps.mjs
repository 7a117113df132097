#!/usr/bin/env node
// The first step of `npm test`: every program the tests start must be on this machine. As root,
// what is missing is installed from Debian's packages with apt-get; otherwise the run stops here,
// before any test, with one line naming the packages and the command that installs them.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

/** What the tests start, the file that proves it is installed, and its Debian package. */
const DEPENDENCIES = [
  {
    what: 'PostgreSQL server binaries (initdb, pg_ctl)',
    package: 'postgresql',
    present: () =>
      existsSync('/usr/lib/postgresql') &&
      readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)),
  },
  {
    what: 'ClickHouse server',
    package: 'clickhouse-server',
    present: () => existsSync('/usr/sbin/clickhouse-server'),
  },
  {
    what: 'ZooKeeper (for replicated ClickHouse)',
    package: 'zookeeper',
    present: () => existsSync('/usr/share/java/zookeeper.jar') && onPath('java'),
  },
  { what: 'Mosquitto MQTT broker', package: 'mosquitto', present: () => onPath('mosquitto') },
  {
    what: 'Chromium',
    package: 'chromium',
    present: () => existsSync(process.env.FV_CHROMIUM ?? '/usr/bin/chromium'),
  },
  { what: 'OpenSSL', package: 'openssl', present: () => onPath('openssl') },
  {
    what: 'Prometheus and promtool (the scrape test)',
    package: 'prometheus',
    present: () => onPath('prometheus') && onPath('promtool'),
  },
  {
    what: 'systemd-analyze (the systemd example check)',
    package: 'systemd',
    present: () => onPath('systemd-analyze'),
  },
];

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function missing() {
  return DEPENDENCIES.filter((d) => !d.present());
}

const absent = missing();
if (absent.length === 0) process.exit(0);

const packages = absent.map((d) => d.package);
const command = `apt-get install -y ${packages.join(' ')}`;
if (process.getuid?.() !== 0) {
  process.stderr.write(
    `npm test: missing ${absent.map((d) => d.what).join(', ')}; install with: sudo ${command}\n`,
  );
  process.exit(1);
}

process.stdout.write(`npm test: installing ${packages.join(' ')} with apt-get\n`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [
  ['update', '-qq'],
  ['install', '-y', '-qq', ...packages],
]) {
  const r = spawnSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) {
    process.stderr.write(`npm test: apt-get ${args[0]} failed (exit ${r.status}); run: ${command}\n`);
    process.exit(1);
  }
}
const still = missing();
if (still.length > 0) {
  process.stderr.write(`npm test: still missing after apt-get: ${still.map((d) => d.what).join(', ')}\n`);
  process.exit(1);
}
