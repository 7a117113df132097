/** The shape of the simulated fleet: products, regions, firmware and failure behaviour. */
export interface Product {
  readonly model: string;
  readonly weight: number;
  readonly eventsPerDay: number;
  readonly failFactor: number;
  /** Days after the window starts when the product launched (negative: before the window). */
  readonly launchDay?: number;
  readonly firmware: ReadonlyArray<readonly [string, number]>;
  readonly camera: boolean;
}

export const PRODUCTS: readonly Product[] = [
  {
    model: 'cam-indoor-2',
    weight: 24,
    eventsPerDay: 2,
    failFactor: 1,
    firmware: [
      ['2.8.1', 30],
      ['2.9.0', 70],
    ],
    camera: true,
  },
  {
    model: 'cam-outdoor-3',
    weight: 18,
    eventsPerDay: 2,
    failFactor: 1.2,
    firmware: [
      ['3.1.4', 45],
      ['3.2.0', 55],
    ],
    camera: true,
  },
  {
    model: 'doorbell-pro',
    weight: 10,
    eventsPerDay: 1.5,
    failFactor: 1.1,
    launchDay: 0.3,
    firmware: [['1.0.2', 100]],
    camera: true,
  },
  {
    model: 'plug-mini',
    weight: 20,
    eventsPerDay: 0.8,
    failFactor: 0.7,
    firmware: [['5.4.0', 100]],
    camera: false,
  },
  {
    model: 'bulb-color',
    weight: 14,
    eventsPerDay: 0.8,
    failFactor: 0.8,
    firmware: [
      ['1.12.3', 60],
      ['1.13.0', 40],
    ],
    camera: false,
  },
  {
    model: 'lock-smart',
    weight: 8,
    eventsPerDay: 1.2,
    failFactor: 0.9,
    firmware: [['4.0.7', 100]],
    camera: false,
  },
  {
    model: 'scale-body',
    weight: 6,
    eventsPerDay: 0.3,
    failFactor: 1,
    firmware: [['2.2.0', 100]],
    camera: false,
  },
];

/** The bad release: devices on it fail far more often once it ships, halfway through the window. */
export const BAD_FIRMWARE = {
  model: 'cam-outdoor-3',
  version: '3.2.0',
  releaseDay: 0.5,
  failMultiplier: 5,
} as const;

export interface Region {
  readonly name: string;
  readonly weight: number;
  readonly failRate: number;
  readonly countries: ReadonlyArray<readonly [string, string]>;
}

export const REGIONS: readonly Region[] = [
  {
    name: 'eu-west',
    weight: 30,
    failRate: 0.035,
    countries: [
      ['DE', 'Europe/Berlin'],
      ['FR', 'Europe/Paris'],
      ['GB', 'Europe/London'],
      ['NL', 'Europe/Amsterdam'],
      ['ES', 'Europe/Madrid'],
    ],
  },
  {
    name: 'eu-north',
    weight: 10,
    failRate: 0.03,
    countries: [
      ['SE', 'Europe/Stockholm'],
      ['NO', 'Europe/Oslo'],
      ['FI', 'Europe/Helsinki'],
    ],
  },
  { name: 'us-east', weight: 25, failRate: 0.04, countries: [['US', 'America/New_York']] },
  { name: 'us-west', weight: 20, failRate: 0.045, countries: [['US', 'America/Los_Angeles']] },
  {
    name: 'apac',
    weight: 15,
    failRate: 0.07,
    countries: [
      ['JP', 'Asia/Tokyo'],
      ['AU', 'Australia/Sydney'],
      ['SG', 'Asia/Singapore'],
    ],
  },
];

export const ERROR_CODES: ReadonlyArray<readonly [string, number]> = [
  ['E_TIMEOUT', 35],
  ['E_WIFI_ASSOC', 30],
  ['E_AUTH', 15],
  ['E_DNS', 10],
  ['E_TLS', 10],
];

export const APP_VERSIONS: ReadonlyArray<readonly [string, number]> = [
  ['4.12.0', 50],
  ['4.11.2', 30],
  ['4.10.5', 20],
];

export const FIRST_NAMES = [
  'emma',
  'liam',
  'olivia',
  'noah',
  'ava',
  'lucas',
  'mia',
  'leo',
  'sofia',
  'yuki',
  'hana',
  'oscar',
  'ines',
  'mateo',
  'freja',
  'aiko',
  'omar',
  'lena',
  'ravi',
  'chloe',
];
export const LAST_NAMES = [
  'smith',
  'muller',
  'garcia',
  'rossi',
  'tanaka',
  'nilsen',
  'dubois',
  'kim',
  'brown',
  'jansen',
  'silva',
  'novak',
  'sato',
  'walker',
  'costa',
];
export const MAIL_DOMAINS = ['gmail.com', 'outlook.com', 'yahoo.com', 'icloud.com', 'gmx.de', 'proton.me'];
export const NICKNAMES = [
  "'s room",
  ' front door',
  ' garage',
  ' baby monitor',
  ' kitchen',
  ' backyard',
  ' living room',
  ' porch',
  ' office',
];
export const SSID_STYLES = [
  'NETGEAR',
  'FRITZ!Box 7590 ',
  'Vodafone-',
  'TP-Link_',
  'Livebox-',
  'xfinitywifi',
  'BT-',
];
export const PROVIDERS = ['alexa', 'google_assistant', 'ifttt'] as const;
