// registry-proxy-dns: upstream's proxydns registry (sdk registry/chains/proxydns) served as
// cmd-registry-proxy-dns serves it — SVID from the Workload API, mTLS, spiffejwt tokens, the
// registry policies of NSM_REGISTRY_SERVER_POLICIES (and NSM_REGISTRY_CLIENT_POLICIES on what it calls) — on the URL of its first argument.
// Its resolver asks only NSM_TEST_DNS_SERVER (ip:port: the test's dns2 server) instead of the
// system's, for SRV and A/AAAA of registry.nsm-system.<domain> and nsmgr-proxy.nsm-system.<domain>.
// Test infrastructure for nsm-rx's interop tests (the module proxy does not serve cmd-*).
package main

import (
	"context"
	"net"
	"os"

	"github.com/networkservicemesh/sdk/pkg/registry/chains/proxydns"
	registryauthorize "github.com/networkservicemesh/sdk/pkg/registry/common/authorize"

	"nsmrx.test/interop/internal/secure"
)

func main() {
	dnsServer := os.Getenv("NSM_TEST_DNS_SERVER")
	if _, _, err := net.SplitHostPort(dnsServer); err != nil {
		secure.Fail("NSM_TEST_DNS_SERVER (expected ip:port of a DNS server)", err)
	}
	ctx, id, stop := secure.Daemon()
	defer stop()
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dnsServer)
	}}
	paths, clientPaths := secure.RegistryServerPolicies(), secure.RegistryClientPolicies()
	registry := proxydns.NewServer(ctx, id.Token, resolver,
		proxydns.WithAuthorizeNSRegistryServer(registryauthorize.NewNetworkServiceRegistryServer(registryauthorize.WithPolicies(paths...))),
		proxydns.WithAuthorizeNSERegistryServer(registryauthorize.NewNetworkServiceEndpointRegistryServer(registryauthorize.WithPolicies(paths...))),
		proxydns.WithAuthorizeNSRegistryClient(registryauthorize.NewNetworkServiceRegistryClient(registryauthorize.WithPolicies(clientPaths...))),
		proxydns.WithAuthorizeNSERegistryClient(registryauthorize.NewNetworkServiceEndpointRegistryClient(registryauthorize.WithPolicies(clientPaths...))),
		proxydns.WithDialOptions(id.DialOptions()...),
	)
	server := id.Server()
	registry.Register(server)
	secure.Serve(ctx, os.Args[1], server)
}
