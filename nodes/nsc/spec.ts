/**
 * cmd-nsc's variables, apart from its main so the chain (`chain.ts`), nsc-init and the tests
 * read them without importing the component.
 */

import { parseBracketGroups } from '../../operators/tools/cidrGroups.js';
import { parseNsUrl } from '../../operators/tools/nsurl.js';
import { bool, duration, list, str, url, variable } from '../cli/config.js';
import { policies, securitySpec } from '../cli/security.js';
import { localDnsAddress, localDnsResolvConf } from './localDns.js';

/** What upstream's authorize.NewClient() applies when given no policies: common + client. */
export const defaultClientPolicies = 'etc/nsm/opa/common/.*.rego,etc/nsm/opa/client/.*.rego';

const networkServices = (env: string, description: string) =>
  variable({
    env,
    def: '',
    description,
    kind: 'ns urls',
    expected: 'comma-separated mechanism://network-service[@domain]/interface?label=value, e.g. kernel://icmp-responder/nsm-1',
    parse: (s) => (s.trim() === '' ? [] : s.split(',').map((entry) => parseNsUrl(entry))),
    zero: () => [],
  });

export const nscSpec = {
  name: str('NSM_NAME', 'nsc', 'Name of the client; connection i has id <NSM_NAME>-<i>'),
  connectTo: url('NSM_CONNECT_TO', 'unix:///var/lib/networkservicemesh/nsm.io.sock', 'The nsmgr to request from'),
  dialTimeout: duration('NSM_DIAL_TIMEOUT', '5s', 'Dial timeout toward the nsmgr'),
  requestTimeout: duration('NSM_REQUEST_TIMEOUT', '15s', 'Budget of each Request try'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this client issues; it refreshes at 20% of it'),
  // Upstream cmd-nsc has no variable: it always applies authorize.NewClient()'s defaults (these).
  clientPolicies: policies('NSM_CLIENT_POLICIES', defaultClientPolicies, 'Policies every returned connection must pass (upstream authorize.NewClient() defaults; empty: none)'),
  ...securitySpec,
  // Upstream: a []string documented as key1=val1,key2=val2 and never read; any list is accepted.
  labels: list('NSM_LABELS', '', 'Client labels key1=val1,key2=val2: accepted, not used (as upstream; the NS URL query sets connection labels)'),
  mechanism: str('NSM_MECHANISM', 'kernel', 'Parsed for compatibility (the URL scheme picks the mechanism)'),
  networkServices: networkServices('NSM_NETWORK_SERVICES', 'Network services to connect to'),
  awarenessGroups: variable({
    env: 'NSM_AWARENESS_GROUPS',
    def: '',
    description: 'Groups of NS URLs whose connections may share addresses: [url1,url2],[url3]',
    kind: 'url groups',
    expected: 'groups in brackets such as [kernel://ns1/nsm-1?color=red,kernel://ns2/nsm-2]',
    parse: (s) => parseBracketGroups(s, (item) => item),
    zero: () => [],
  }),
  livenessCheckEnabled: bool('NSM_LIVENESS_CHECK_ENABLED', 'true', 'Ping over each connection from this netns; no answer → heal by reselect (turn off with a forwarder that has no datapath)'),
  livenessCheckInterval: duration('NSM_LIVENESS_CHECK_INTERVAL', '200ms', 'Interval of datapath probes'),
  livenessCheckTimeout: duration('NSM_LIVENESS_CHECK_TIMEOUT', '1s', 'Timeout of one datapath probe'),
  localDnsServerEnabled: bool('NSM_LOCAL_DNS_SERVER_ENABLED', 'true', 'Local DNS server: a proxy to the connections’ DNS servers, the resolver of this netns pointed at it'),
  localDnsServerAddress: localDnsAddress,
  localDnsResolvConf,
};
