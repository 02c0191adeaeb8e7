import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { GatewayCloseCodes, GatewayDispatchEvents, GatewayOpcodes } from 'discord-api-types/v10';
import { type RawData, WebSocket, WebSocketServer } from 'ws';

/** Intents Discord only grants when switched on in the developer portal. */
export const PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15);
export const GATEWAY_VERSION = 10;

interface DispatchPayload {
  op: GatewayOpcodes.Dispatch;
  t: string;
  s: number;
  d: unknown;
}

interface Session {
  id: string;
  intents: number;
  seq: number;
  /** Every dispatch of the session, so a RESUME can replay what the client missed. */
  events: DispatchPayload[];
  conn: Conn | undefined;
  disconnectedAt: number | undefined;
}

interface Conn {
  ws: WebSocket;
  session: Session | undefined;
}

export interface GatewayOptions {
  token: string;
  heartbeatIntervalMs: number;
  /** Privileged intents switched on for the application; identifying with others closes 4014. */
  grantedPrivilegedIntents: number;
  /** How long a dropped session stays resumable. */
  resumeWindowMs: number;
  /** What READY carries besides the session fields, and the dispatches that follow it. */
  onIdentify(): { ready: Record<string, unknown>; after: { t: string; d: unknown }[] };
  /** Public ws:// URL of this gateway, sent as `resume_gateway_url`. */
  url(): string;
}

export interface GatewayStats {
  connections: number;
  identifies: number;
  resumes: number;
  heartbeats: number;
  /** Close codes the fake sent, in order (4004 for a wrong token, …). */
  closeCodes: number[];
}

const MAX_REPLAY = 1_000;

/**
 * The gateway side of the fake: HELLO, IDENTIFY with the token check, heartbeats and their ACKs,
 * READY with a resumable session, sequenced dispatches, RESUME with replay, the documented close
 * codes. JSON encoding only; transport compression is refused (discord.js asks for it only when
 * the optional zlib-sync package is installed).
 */
export class FakeGateway {
  readonly stats: GatewayStats = { connections: 0, identifies: 0, resumes: 0, heartbeats: 0, closeCodes: [] };
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sessions = new Map<string, Session>();
  private readonly conns = new Set<Conn>();

  constructor(private readonly o: GatewayOptions) {}

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req));
  }

  /**
   * Sends a dispatch to every live session (and keeps it for sessions that may still resume).
   * `shape` picks what a session with the given intents receives, or undefined to skip it.
   */
  dispatch(t: string, shape: (intents: number) => unknown | undefined): void {
    this.expireSessions();
    for (const s of this.sessions.values()) {
      const d = shape(s.intents);
      if (d !== undefined) this.send(s, t, d);
    }
  }

  /**
   * Cuts every connection: `terminate` drops the TCP socket (the client sees 1006), `reconnect`
   * sends op 7 RECONNECT as Discord does before moving a session, a number closes with that code.
   */
  drop(how: 'terminate' | 'reconnect' | number): void {
    for (const c of this.conns) {
      if (how === 'terminate') c.ws.terminate();
      else if (how === 'reconnect') c.ws.send(JSON.stringify({ op: GatewayOpcodes.Reconnect, d: null }));
      else this.closeWith(c, how, 'Dropped by the fake');
    }
  }

  /** Sessions with an open, identified connection. */
  liveSessions(): number {
    return [...this.sessions.values()].filter((s) => s.conn?.ws.readyState === WebSocket.OPEN).length;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const conn: Conn = { ws, session: undefined };
    this.conns.add(conn);
    this.stats.connections++;
    ws.on('close', (code) => this.onClose(conn, code));
    ws.on('error', () => {});
    const q = new URL(req.url ?? '/', 'ws://fake').searchParams;
    if (q.get('v') !== String(GATEWAY_VERSION)) {
      this.closeWith(conn, GatewayCloseCodes.InvalidAPIVersion, 'Invalid API version');
      return;
    }
    if ((q.get('encoding') ?? 'json') !== 'json' || q.has('compress')) {
      this.closeWith(conn, GatewayCloseCodes.DecodeError, 'Only JSON without compression in the fake');
      return;
    }
    ws.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    this.raw(conn, {
      op: GatewayOpcodes.Hello,
      d: { heartbeat_interval: this.o.heartbeatIntervalMs },
      s: null,
      t: null,
    });
  }

  private onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    let p: { op?: unknown; d?: unknown };
    try {
      if (isBinary) throw new Error('binary frame');
      p = JSON.parse(data.toString());
    } catch {
      this.closeWith(conn, GatewayCloseCodes.DecodeError, 'Error while decoding payload.');
      return;
    }
    const d = (p.d ?? {}) as Record<string, unknown>;
    switch (p.op) {
      case GatewayOpcodes.Heartbeat:
        this.stats.heartbeats++;
        this.raw(conn, { op: GatewayOpcodes.HeartbeatAck });
        return;
      case GatewayOpcodes.Identify:
        this.identify(conn, d);
        return;
      case GatewayOpcodes.Resume:
        this.resume(conn, d);
        return;
      case GatewayOpcodes.PresenceUpdate:
      case GatewayOpcodes.VoiceStateUpdate:
      case GatewayOpcodes.RequestGuildMembers:
        if (!conn.session) this.closeWith(conn, GatewayCloseCodes.NotAuthenticated, 'Not authenticated.');
        return;
      default:
        this.closeWith(conn, GatewayCloseCodes.UnknownOpcode, 'Unknown opcode.');
        return;
    }
  }

  private identify(conn: Conn, d: Record<string, unknown>): void {
    if (conn.session) {
      this.closeWith(conn, GatewayCloseCodes.AlreadyAuthenticated, 'Already authenticated.');
      return;
    }
    if (d.token !== this.o.token) {
      this.closeWith(conn, GatewayCloseCodes.AuthenticationFailed, 'Authentication failed.');
      return;
    }
    const intents = typeof d.intents === 'number' ? d.intents : Number.NaN;
    if (!Number.isInteger(intents) || intents < 0) {
      this.closeWith(conn, GatewayCloseCodes.InvalidIntents, 'Invalid intent(s).');
      return;
    }
    if ((intents & PRIVILEGED_INTENTS & ~this.o.grantedPrivilegedIntents) !== 0) {
      this.closeWith(conn, GatewayCloseCodes.DisallowedIntents, 'Disallowed intent(s).');
      return;
    }
    const shard = d.shard as unknown;
    if (shard !== undefined && !(Array.isArray(shard) && shard[0] === 0 && shard[1] === 1)) {
      this.closeWith(conn, GatewayCloseCodes.InvalidShard, 'Invalid shard.');
      return;
    }
    this.stats.identifies++;
    const session: Session = {
      id: randomBytes(16).toString('hex'),
      intents,
      seq: 0,
      events: [],
      conn,
      disconnectedAt: undefined,
    };
    this.sessions.set(session.id, session);
    conn.session = session;
    const { ready, after } = this.o.onIdentify();
    this.send(session, GatewayDispatchEvents.Ready, {
      v: GATEWAY_VERSION,
      ...ready,
      session_id: session.id,
      resume_gateway_url: this.o.url(),
      shard: [0, 1],
    });
    for (const e of after) this.send(session, e.t, e.d);
  }

  private resume(conn: Conn, d: Record<string, unknown>): void {
    if (conn.session) {
      this.closeWith(conn, GatewayCloseCodes.AlreadyAuthenticated, 'Already authenticated.');
      return;
    }
    if (d.token !== this.o.token) {
      this.closeWith(conn, GatewayCloseCodes.AuthenticationFailed, 'Authentication failed.');
      return;
    }
    this.expireSessions();
    const session = this.sessions.get(String(d.session_id));
    const seq = Number(d.seq);
    const oldest = session?.events[0]?.s ?? 1;
    if (!session || !Number.isInteger(seq) || seq > session.seq || seq + 1 < oldest) {
      // Not resumable: the client must identify afresh (d: false).
      this.raw(conn, { op: GatewayOpcodes.InvalidSession, d: false });
      return;
    }
    if (session.conn && session.conn !== conn) session.conn.ws.terminate();
    this.stats.resumes++;
    session.conn = conn;
    session.disconnectedAt = undefined;
    conn.session = session;
    for (const e of session.events) if (e.s > seq) this.raw(conn, e);
    this.send(session, GatewayDispatchEvents.Resumed, {});
  }

  private send(s: Session, t: string, d: unknown): void {
    const payload: DispatchPayload = { op: GatewayOpcodes.Dispatch, t, s: ++s.seq, d };
    s.events.push(payload);
    if (s.events.length > MAX_REPLAY) s.events.shift();
    if (s.conn?.ws.readyState === WebSocket.OPEN) this.raw(s.conn, payload);
  }

  private raw(conn: Conn, payload: unknown): void {
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(JSON.stringify(payload));
  }

  private closeWith(conn: Conn, code: number, reason: string): void {
    this.stats.closeCodes.push(code);
    conn.ws.close(code, reason);
  }

  private onClose(conn: Conn, code: number): void {
    this.conns.delete(conn);
    const s = conn.session;
    if (!s || s.conn !== conn) return;
    s.conn = undefined;
    // A client closing with 1000/1001 ends its session; any other close leaves it resumable.
    if (code === 1000 || code === 1001) this.sessions.delete(s.id);
    else s.disconnectedAt = Date.now();
  }

  private expireSessions(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions) {
      if (s.disconnectedAt !== undefined && now - s.disconnectedAt > this.o.resumeWindowMs)
        this.sessions.delete(id);
    }
  }
}
