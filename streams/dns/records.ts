import { isIPv4, isIPv6 } from 'node:net';
import dns2 from 'dns2';

/** Where a name's addresses are kept (a fully qualified name, any case, with its final dot). */
export type RecordLookup = (name: string) => readonly string[] | undefined;

/**
 * An authoritative answer to `query` from `lookup` (upstream dnsutils memory handler): A and
 * AAAA questions of a known name get its addresses of that family (none: an empty NOERROR);
 * undefined when the name is unknown or the message is no plain query, so it is asked further.
 */
export function answerFromRecords(query: Buffer, lookup: RecordLookup, ttl = 10): Buffer | undefined {
  let packet: dns2.Packet;
  try {
    packet = dns2.Packet.parse(query);
  } catch {
    return undefined;
  }
  const question = packet.questions[0];
  if (packet.header.qr !== 0 || packet.questions.length !== 1 || question === undefined) return undefined;
  const type = question.type;
  if (type !== dns2.Packet.TYPE.A && type !== dns2.Packet.TYPE.AAAA) return undefined;
  const addresses = lookup(`${question.name.replace(/\.$/, '')}.`);
  if (addresses === undefined) return undefined;
  const answer = new dns2.Packet();
  answer.header = new dns2.Packet.Header({ id: packet.header.id, qr: 1, aa: 1, rd: packet.header.rd });
  answer.questions.push(question);
  const family = type === dns2.Packet.TYPE.A ? isIPv4 : isIPv6;
  for (const address of addresses.filter((a) => family(a))) {
    answer.answers.push({ name: question.name, type, class: dns2.Packet.CLASS.IN, ttl, address } as dns2.Packet.Resource);
  }
  return answer.toBuffer();
}
