import { expect, it } from 'vitest';
import { Connection, State } from '../../proto/gen/connection.js';
import { connectionDiagram } from './diagram.js';

it('connectionDiagram: a box per hop, the client’s and the endpoint’s interfaces and addresses', () => {
  const conn = Connection.fromPartial({
    id: 'nsc-0',
    state: State.UP,
    mechanism: { type: 'KERNEL', parameters: { name: 'nsm-1' } },
    context: { ipContext: { srcIpAddrs: ['169.254.0.1/32'], dstIpAddrs: ['169.254.0.0/32'] } },
    path: { pathSegments: [{ name: 'nsc' }, { name: 'nsmgr' }, { name: 'forwarder', metrics: { client_interface: 'icmp-respo-1a2b', server_interface: 'nsm-1' } }, { name: 'icmp-responder' }] },
  });
  expect(connectionDiagram(conn)).toBe(
    [
      'nsc-0 UP',
      '┌────────────────┐   ┌───────┐   ┌───────────┐   ┌─────────────────┐',
      '│ nsc            │──▶│ nsmgr │──▶│ forwarder │──▶│ icmp-responder  │',
      '│ nsm-1          │   └───────┘   └───────────┘   │ icmp-respo-1a2b │',
      '│ 169.254.0.1/32 │                               │ 169.254.0.0/32  │',
      '└────────────────┘                               └─────────────────┘',
    ].join('\n'),
  );
});
