import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { DnsTemplateError, parseDnsTemplate } from './dnsTemplate.js';

const conn = (networkService: string, labels: Record<string, string> = {}) => Connection.fromPartial({ id: 'c1', networkService, labels, networkServiceEndpointName: 'nse-1' });

describe('parseDnsTemplate', () => {
  it('names a connection by upstream’s default scheme; a missing label is empty and the dots fold', () => {
    const t = parseDnsTemplate('{{ index .Labels "podName" }}.{{ .NetworkService }}.');
    expect(t.render(conn('vl3', { podName: 'nsc0' }))).toBe('nsc0.vl3.');
    expect(t.render(conn('vl3'))).toBe('.vl3.');
  });

  it('target and domain split an interdomain name; fields by name', () => {
    const t = parseDnsTemplate('{{ index .Labels "podName" }}.{{ target .NetworkService }}.{{ domain .NetworkService }}.');
    expect(t.render(conn('vl3@floating.domain', { podName: 'nsc' }))).toBe('nsc.vl3.floating.domain.');
    expect(t.render(conn('vl3', { podName: 'nsc' }))).toBe('nsc.vl3.');
    expect(parseDnsTemplate('{{.NetworkServiceEndpointName}}-{{ .Id }}.x').render(conn('vl3'))).toBe('nse-1-c1.x');
  });

  it('refuses what it cannot run, naming it', () => {
    expect(() => parseDnsTemplate('{{ .Name }}.vl3.')).toThrow(DnsTemplateError);
    expect(() => parseDnsTemplate('{{ printf "%s" .Id }}')).toThrow(/cannot use \{\{ printf "%s" .Id \}\}/);
    expect(() => parseDnsTemplate('{{ .Id ')).toThrow(/DNS template "\{\{ .Id "/);
  });
});
