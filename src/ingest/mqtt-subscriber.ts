import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';

export interface MqttMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /**
   * 1: acknowledged with `messageId` once durable. 0: sent once, never acknowledged or sent again
   * (and not held back by the Receive Maximum either), so the ingest counts it and drops it.
   */
  readonly qos: 0 | 1;
  /** The broker's packet id; the message is acknowledged with it, after it is durable. */
  readonly messageId: number;
  /** Which connection brought it: ids are only valid on their own connection. */
  readonly connection: number;
}

export interface MqttSubscriberOptions {
  readonly url: URL;
  readonly topic: string;
  /** A stable id: the broker keeps the session and queues messages while we are away. */
  readonly clientId: string;
  /** The broker password for the URL's user (never taken from the URL: see ingest-command). */
  readonly password?: string;
  /** Unacknowledged messages the broker may send us at once: our memory bound and batch size. */
  readonly receiveMaximum: number;
  /** Largest message accepted; bigger ones the broker drops before sending. */
  readonly maximumPacketSize: number;
  readonly keepaliveSeconds?: number;
}

/**
 * A small MQTT 5 subscriber for at-least-once ingest: QoS 1 on a persistent session, and each
 * PUBACK sent only when the caller says the message is durable (`ack`). The Receive Maximum we
 * announce caps what the broker sends before our acknowledgements: back-pressure reaches the
 * broker, which queues instead of us buffering. General clients acknowledge on receipt, which is
 * why this one exists (about a hundred lines over the protocol library mqtt-packet).
 *
 * Events: `message` (MqttMessage), `connected`, `disconnected` (reason text).
 */
export class MqttSubscriber extends EventEmitter {
  #socket: Socket | undefined;
  #stopped = false;
  #ping: NodeJS.Timeout | undefined;
  #retry = 250;
  #connection = 0;

  constructor(private readonly opts: MqttSubscriberOptions) {
    super();
  }

  start(): void {
    this.#open();
  }

  /**
   * Acknowledges durable messages. Those of a lost connection are skipped: the broker sends them
   * again on the next one (and the store drops the duplicate by key).
   */
  ack(messages: readonly MqttMessage[]): void {
    const s = this.#socket;
    if (!s || s.destroyed) return;
    for (const m of messages) {
      if (m.qos === 1 && m.connection === this.#connection) {
        s.write(mqttPacket.generate({ cmd: 'puback', messageId: m.messageId }, { protocolVersion: 5 }));
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#ping) clearInterval(this.#ping);
    const s = this.#socket;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.end(mqttPacket.generate({ cmd: 'disconnect' }, { protocolVersion: 5 }));
      setTimeout(() => s.destroy(), 1000).unref();
    });
  }

  #open(): void {
    const { url } = this.opts;
    const socket = netConnect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 1883) });
    this.#socket = socket;
    const connection = ++this.#connection;
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const send = (p: Packet) => socket.write(mqttPacket.generate(p, { protocolVersion: 5 }));
    socket.on('connect', () => {
      send({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 5,
        clientId: this.opts.clientId,
        clean: false,
        keepalive: this.opts.keepaliveSeconds ?? 30,
        ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
        ...(this.opts.password ? { password: Buffer.from(this.opts.password) } : {}),
        properties: {
          sessionExpiryInterval: 0xffffffff,
          receiveMaximum: this.opts.receiveMaximum,
          maximumPacketSize: this.opts.maximumPacketSize,
        },
      });
    });
    socket.on('data', (chunk) => parser.parse(chunk));
    parser.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connack') {
        if ((packet.reasonCode ?? 0) !== 0) {
          socket.destroy(new Error(`broker refused the connection (reason ${packet.reasonCode})`));
          return;
        }
        this.#retry = 250;
        send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: this.opts.topic, qos: 1 }] });
        this.#ping = setInterval(
          () => send({ cmd: 'pingreq' }),
          ((this.opts.keepaliveSeconds ?? 30) * 1000) / 2,
        );
        this.#ping.unref();
        this.emit('connected');
      } else if (packet.cmd === 'publish') {
        const p = packet as IPublishPacket;
        // We subscribe at QoS 1: the broker sends at most that, and QoS 0 as the publisher sent it.
        const qos = p.qos === 0 || p.messageId === undefined ? 0 : 1;
        const m: MqttMessage = {
          topic: p.topic,
          payload: qos === 0 ? Buffer.alloc(0) : Buffer.from(p.payload),
          qos,
          messageId: p.messageId ?? 0,
          connection,
        };
        this.emit('message', m);
      }
    });
    parser.on('error', (e) => socket.destroy(e));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.#ping) clearInterval(this.#ping);
      this.emit('disconnected');
      if (this.#stopped) return;
      setTimeout(() => this.#open(), this.#retry).unref();
      this.#retry = Math.min(this.#retry * 2, 5000);
    });
  }
}
