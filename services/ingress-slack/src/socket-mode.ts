import { SocketModeClient } from '@slack/socket-mode';
import { errorMessage, type Logger } from '@switchboard/core';
import { type EventCallback, eventCallbackSchema } from './normalise.ts';
import { webClientOptions } from './web-api.ts';

export interface SocketModeOptions {
  appToken: string;
  apiUrl: string;
  timeoutMs: number;
  log: Logger;
  /** Settles once the event is handed over (published and confirmed, or deliberately ignored). */
  onEvent(payload: EventCallback): Promise<unknown>;
}

/**
 * Events over Socket Mode: no public URL, no signature (the app token authenticates the socket).
 * An envelope is acknowledged only once `onEvent` settled; one left unacknowledged is redelivered
 * by Slack, which is what we want when the broker did not confirm.
 */
export class SocketModeListener {
  private readonly client: SocketModeClient;
  private connected = false;

  constructor(private readonly o: SocketModeOptions) {
    const { logger, slackApiUrl, timeout } = webClientOptions({
      apiUrl: o.apiUrl,
      timeoutMs: o.timeoutMs,
      log: o.log,
    });
    this.client = new SocketModeClient({
      appToken: o.appToken,
      logger,
      // NOTE: unlike sends, apps.connections.open keeps SDK retries (network errors, 5xx and 429 only;
      // a bad token fails at once): a reconnect failing on a blip would otherwise end in an unhandled
      // rejection inside the SDK, which stops the process.
      clientOptions: {
        slackApiUrl,
        timeout,
        retryConfig: { retries: 10, factor: 1.6, minTimeout: 1_000, maxTimeout: 30_000 },
      },
    });
    this.client.on('connected', () => {
      this.connected = true;
      o.log.info('Slack Socket Mode connected');
    });
    // `close` fires as the socket drops; `reconnecting` only once the SDK's back-off delay is over.
    this.client.on('close', () => {
      if (this.connected) o.log.info('Slack Socket Mode connection closed; reconnecting');
      this.connected = false;
    });
    this.client.on('disconnected', () => {
      this.connected = false;
    });
    this.client.on('slack_event', (args: SocketEvent) => {
      void this.onEnvelope(args);
    });
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Resolves once Slack said hello on the socket. */
  async start(): Promise<void> {
    await this.client.start();
  }

  async stop(): Promise<void> {
    await this.client.disconnect();
  }

  private async onEnvelope({ ack, type, body, envelope_id }: SocketEvent): Promise<void> {
    const labels = { platform: 'slack', envelope_id };
    if (type === 'events_api') {
      const parsed = eventCallbackSchema.safeParse(body);
      if (parsed.success) {
        try {
          await this.o.onEvent(parsed.data);
        } catch (err) {
          this.o.log.warn('Slack event not taken; leaving it unacknowledged so Slack redelivers', {
            error: { message: errorMessage(err) },
            labels: { ...labels, event_id: parsed.data.event_id },
          });
          return;
        }
      } else {
        this.o.log.warn('malformed events_api envelope acknowledged and dropped', { labels });
      }
    }
    // Interactivity and slash commands are not handled; acknowledged so Slack does not resend them.
    await ack().catch((err: unknown) =>
      this.o.log.warn('Socket Mode acknowledgement failed', {
        error: { message: errorMessage(err) },
        labels,
      }),
    );
  }
}

interface SocketEvent {
  ack: (response?: Record<string, unknown>) => Promise<void>;
  envelope_id: string;
  type: string;
  body: unknown;
}
