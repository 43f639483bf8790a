/**
 * The elastic data plane's HTTP side: one server, the bearer-token check, bounded bodies and the
 * wire format, turning each request into a call on `PlaneHandlers` and its `Answer` into a
 * response. What a request means (who may join, what a gradient counts for) is the handlers'
 * business; nothing here keeps training state.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { carriesToken } from './auth';
import { ENDPOINTS, type DivergedReport, type Endpoint, type GradientHeader, type JoinRequest, type NextReply, type WorkHeader } from './protocol';
import { WIRE_CONTENT_TYPE, decodeMessage, encodeMessage } from './wire';

/** A JSON request (join, next, leave, diverged) is a few hundred bytes: this bounds it. */
export const JSON_BODY_LIMIT = 16 * 1024;
/** Room in a /gradient body for its length prefix, JSON header and padding, besides the floats. */
export const GRADIENT_HEADER_ROOM = 16 * 1024;

/** What a handler answers: a status and a JSON body. */
export interface Answer {
  status: number;
  body: object;
}

/**
 * A /next request held open until there is work for it. Answered once: whichever of its outcomes
 * comes first (work, wait, rejoin, done) is sent, later ones are ignored.
 */
export interface Poll {
  /** An answer was written. */
  readonly answered: boolean;
  /** The answer went out in full: a poll that closes before that has lost its worker. */
  readonly delivered: boolean;
  answer(status: number, body: NextReply): void;
  /** The weights are encoded once per step; only the header (each member's own ids) differs. */
  work(weights: Buffer, header: WorkHeader): void;
  onClose(listener: () => void): void;
}

/** What the plane calls for each endpoint, with the decoded request; a thrown error answers 500. */
export interface PlaneHandlers {
  join(request: JoinRequest): Answer;
  /** Undefined: the poll is held, to be answered through `poll`. */
  next(request: { memberId: string }, poll: Poll): Answer | undefined;
  gradient(header: GradientHeader, values: Float32Array): Answer;
  leave(request: { memberId: string }): Answer;
  diverged(report: DivergedReport): Answer;
}

export class DataPlane {
  private server?: Server;
  /** Largest /gradient body: the model's floats plus a header. */
  private readonly gradientLimit: number;

  constructor(
    private readonly token: string,
    /** Floats a /gradient carries: the model's trainable and non-trainable values. */
    gradientFloats: number,
    private readonly handlers: PlaneHandlers,
  ) {
    this.gradientLimit = 4 * gradientFloats + GRADIENT_HEADER_ROOM;
  }

  async listen(host: string, port = 0): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => reply(res, 500, { error: (err as Error).message }));
    });
    // Long polls and big bodies: the defaults (5 s keep-alive, 300 s request) would cut them short.
    server.keepAliveTimeout = 60_000;
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${shown}:${address.port}`;
  }

  /**
   * Stops listening after `graceMs`, so that workers between two requests still get their answer
   * ("done") instead of a refused connection.
   */
  async close(graceMs: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise((resolve) => setTimeout(resolve, graceMs));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Refusals before the body is read close the connection: nothing more of it is read.
    if (req.method !== 'POST') return refuse(res, 405, { error: 'POST only' });
    if (!carriesToken(req.headers.authorization, this.token)) return refuse(res, 401, { error: 'missing or wrong run token' });
    if (!(ENDPOINTS as readonly string[]).includes(req.url ?? '')) return refuse(res, 404, { error: `no such endpoint ${req.url}` });
    const url = req.url as Endpoint;
    let body: Buffer;
    try {
      body = await readBody(req, url === '/gradient' ? this.gradientLimit : JSON_BODY_LIMIT);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return refuse(res, 413, { error: err.message });
      throw err;
    }
    if (url === '/gradient') {
      let message: { header: GradientHeader; values: Float32Array };
      try {
        message = decodeMessage<GradientHeader>(body);
      } catch (err) {
        return reply(res, 400, { error: (err as Error).message });
      }
      return send(res, this.handlers.gradient(message.header, message.values));
    }
    let request: unknown;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch {
      return reply(res, 400, { error: `${url} takes a JSON body` });
    }
    switch (url) {
      case '/join':
        return send(res, this.handlers.join(request as JoinRequest));
      case '/next': {
        const answer = this.handlers.next(request as { memberId: string }, new HeldPoll(res));
        if (answer) send(res, answer);
        return;
      }
      case '/diverged':
        return send(res, this.handlers.diverged(request as DivergedReport));
      case '/leave':
        return send(res, this.handlers.leave(request as { memberId: string }));
    }
  }
}

class HeldPoll implements Poll {
  constructor(private readonly res: ServerResponse) {}

  get answered(): boolean {
    return this.res.writableEnded;
  }

  get delivered(): boolean {
    return this.res.writableFinished;
  }

  answer(status: number, body: NextReply): void {
    reply(this.res, status, body);
  }

  work(weights: Buffer, header: WorkHeader): void {
    if (this.res.writableEnded) return;
    const body = Buffer.concat([encodeMessage(header), weights]);
    this.res.writeHead(200, { 'content-type': WIRE_CONTENT_TYPE, 'content-length': body.length });
    this.res.end(body);
  }

  onClose(listener: () => void): void {
    this.res.on('close', listener);
  }
}

function send(res: ServerResponse, answer: Answer): void {
  reply(res, answer.status, answer.body);
}

function reply(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  if (res.writableEnded) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Answers a request whose body is not (or no longer) read, and closes its connection: what the
 * client still sends is discarded for a moment (so that it can read the answer), then the
 * connection is cut. Node would otherwise read the rest of the body to keep the connection alive.
 */
function refuse(res: ServerResponse, status: number, body: object): void {
  reply(res, status, body, { connection: 'close' });
  const socket = res.req.socket;
  res.once('finish', () => setTimeout(() => socket.destroy(), 500).unref());
}

export class BodyTooLargeError extends Error {
  constructor(limit: number, declared?: number) {
    super(`request body ${declared === undefined ? 'runs past' : `of ${declared} bytes is over`} this endpoint's limit of ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * The request's body, at most `limit` bytes: a larger declared length is refused before reading
 * anything, a body that passes the limit while streaming as soon as it does (what follows is
 * discarded, never kept).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (declared !== undefined && declared > limit) return Promise.reject(new BodyTooLargeError(limit, declared));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    let ended = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      ended = true;
      if (!over) resolve(Buffer.concat(chunks, size));
    });
    req.once('error', reject);
    req.once('close', () => {
      if (!ended) reject(new Error('the request was cut off before its body ended'));
    });
  });
}
