/**
 * A Socket.IO packet decoder for the simulated dashboards of bench/viewers and bench/target: it
 * reads of each live `update` only what the bench measures (its kind, `recv` and `at`), instead of
 * JSON-parsing the columns. 500 simulated dashboards parsing 10,000 sources' updates took 0.6 of
 * this 2-core machine's cores — capacity the servers under test then lacked, where real dashboards
 * run on their own machines. Everything else (handshakes, acks, other events) and any update that
 * does not have the expected layout goes through socket.io-parser's own decoder, so connection
 * handling stays the real client's.
 *
 * Layout relied on (node/broadcast/encode.ts builds the objects in this key order):
 * `2/live,["update",{"k":"fleet"|"series", …,"recv":[oldest,newest],"at":ms}]`.
 */
import { Decoder, Encoder, PacketType } from 'socket.io-parser';

const PREFIX = '2/live,["update",{"k":"';
const RECV = ',"recv":[';
const AT = '],"at":';
const END = '}]';

/** What the bench reads of an update. */
export interface LightUpdate {
  k: 'fleet' | 'series';
  recv: [number, number];
  at: number;
}

/** The measured fields of an update packet's text, or undefined when it is not one (or not laid out as expected). */
export function readUpdate(text: string): LightUpdate | undefined {
  if (!text.startsWith(PREFIX)) return undefined;
  const k = text.startsWith('fleet"', PREFIX.length) ? 'fleet' : text.startsWith('series"', PREFIX.length) ? 'series' : undefined;
  if (k === undefined || !text.endsWith(END)) return undefined;
  const r = text.lastIndexOf(RECV);
  const a = text.lastIndexOf(AT);
  if (r < 0 || a < r) return undefined;
  const [oldest, newest, extra] = text.slice(r + RECV.length, a).split(',');
  const at = Number(text.slice(a + AT.length, text.length - END.length));
  const recv: [number, number] = [Number(oldest), Number(newest)];
  if (extra !== undefined || !Number.isFinite(recv[0]) || !Number.isFinite(recv[1]) || !Number.isFinite(at)) return undefined;
  return { k, recv, at };
}

class LightDecoder extends Decoder {
  override add(obj: unknown): void {
    const u = typeof obj === 'string' ? readUpdate(obj) : undefined;
    if (u === undefined) super.add(obj);
    else this.emitReserved('decoded', { type: PacketType.EVENT, nsp: '/live', data: ['update', u] });
  }
}

/** Pass as socket.io-client's `parser` option. */
export const lightParser = { Encoder, Decoder: LightDecoder };
