import type { Duplex } from 'node:stream';

/**
 * Backpressure at the socket, not at undici's parser.
 *
 * Why: a download must never hold more than a bounded amount of its body in
 * memory however fast the server sends (nginx's sendfile on loopback outruns
 * dlr's disk writes), and must never throw away bytes that arrived. undici's
 * own backpressure pauses its HTTP parser, and undici 7 (the last line for
 * Node 20) kills the process with an assertion when a socket ends while its
 * parser is paused (nodejs/undici#5360, fixed only in undici 8, which needs
 * Node >= 22.19). So dlr never pauses the parser. Instead, when a body has
 * enough unread data, its socket is *held*: `socket.read()` answers "nothing
 * yet", so undici stops parsing, Node's socket fills its own small buffer
 * (its highWaterMark) and stops reading from the kernel, and TCP flow control
 * slows the server down. A held socket also cannot emit 'end' (Node emits it
 * only from a read that finds the buffer empty), so the parser never meets
 * the end of the connection in a state it cannot handle. Releasing the hold
 * re-emits 'readable', and undici reads on from where it stopped.
 *
 * Which socket a response arrived on: undici parses synchronously right after
 * `socket.read()` returns a chunk, so the socket whose read ran last is the
 * one whose bytes the dispatch handler is being given (`lastReadSocket`).
 */
export interface SocketHold {
  /** Stop undici from reading this socket until `release()`. */
  hold(): void;
  /** Let undici read on (asynchronously: never from inside undici's parser). */
  release(): void;
  readonly held: boolean;
}

const kHold = Symbol('dlr.socketHold');

let lastReadSocket: SocketHold | undefined;
let clearScheduled = false;

function clearLastRead(): void {
  clearScheduled = false;
  lastReadSocket = undefined;
}

/** The hold of the socket undici read last: the one whose response is being parsed now. */
export function currentSocketHold(): SocketHold | undefined {
  return lastReadSocket;
}

/** Makes a socket holdable (idempotent) and returns it. */
export function makeHoldable<T extends Duplex>(socket: T): T {
  if ((socket as unknown as Record<symbol, unknown>)[kHold] !== undefined) return socket;
  const read = socket.read.bind(socket);
  let held = false;
  let wakeScheduled = false;
  const control: SocketHold = {
    hold() {
      held = true;
    },
    release() {
      if (!held) return;
      held = false;
      if (wakeScheduled) return;
      wakeScheduled = true;
      // Never re-enter undici's parser from inside one of its callbacks.
      process.nextTick(() => {
        wakeScheduled = false;
        if (!held && !socket.destroyed) socket.emit('readable');
      });
    },
    get held() {
      return held;
    },
  };
  (socket as unknown as Record<symbol, unknown>)[kHold] = control;
  socket.read = (size?: number) => {
    if (held) return null;
    lastReadSocket = control;
    // Valid only for the synchronous parse that follows this read; a socket
    // that is not holdable can then never be mistaken for this one.
    if (!clearScheduled) {
      clearScheduled = true;
      queueMicrotask(clearLastRead);
    }
    return read(size);
  };
  return socket;
}

type ConnectCallback = (error: Error | null, socket: Duplex | null) => void;
export type Connector = (options: object, callback: ConnectCallback) => unknown;

/** Wraps an undici connector so every socket it makes is holdable. */
export function holdableConnector(connect: Connector): Connector {
  return (options, callback) =>
    connect(options, (error, socket) => {
      callback(error, socket === null || error !== null ? socket : makeHoldable(socket));
    });
}
