import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { ConfigError, loadConfig } from '../cli/config.js';
import { component } from './main.js';

describe('nsm-rx nse-vl3 configuration', () => {
  it('NSM_DNS_TEMPLATES: upstream’s default names a client by its podName; a template it cannot run is refused naming the variable and the part', () => {
    const config = loadConfig(component.spec, {});
    expect(config.dnsTemplates.map((t) => t.render(Connection.fromPartial({ networkService: 'vL3', labels: { podName: 'nsc1' } })))).toEqual(['nsc1.vL3.']);
    const bad = () => loadConfig(component.spec, { NSM_DNS_TEMPLATES: '{{ .NetworkService }}.,{{ .Name }}.vl3.' });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/NSM_DNS_TEMPLATES=".*": expected comma-separated Go templates .*cannot use \{\{ \.Name \}\}/);
  });
});
