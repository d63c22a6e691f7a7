import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { monitorPolicies } from './security.js';

describe('NSM_MONITOR_POLICIES', () => {
  const spec = { monitorPolicies };

  it('is empty by default (any caller may watch, as upstream) and takes service_connection by path or pattern', () => {
    expect(loadConfig(spec, {}).monitorPolicies).toEqual([]);
    expect(loadConfig(spec, { NSM_MONITOR_POLICIES: 'etc/nsm/opa/monitor/.*.rego' }).monitorPolicies).toEqual(['etc/nsm/opa/monitor/service_connection.rego']);
  });

  it('refuses a policy that does not apply to MonitorConnections, naming it', () => {
    expect(() => loadConfig(spec, { NSM_MONITOR_POLICIES: 'etc/nsm/opa/common/tokens_valid.rego' })).toThrow(
      /NSM_MONITOR_POLICIES="etc\/nsm\/opa\/common\/tokens_valid.rego": .*etc\/nsm\/opa\/common\/tokens_valid.rego does not apply here/,
    );
  });
});
