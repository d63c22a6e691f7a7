// registry-memory: upstream's memory registry (sdk registry/chains/memory) served as upstream's
// cmd-registry-memory serves it — SVID from the Workload API, mTLS, spiffejwt tokens, the
// registry policies of NSM_REGISTRY_SERVER_POLICIES (NSM_REGISTRY_CLIENT_POLICIES on what the
// proxy registry answers), NSEs kept NSM_EXPIRE_PERIOD (1m) without a refresh — on the URL of
// its first argument; NSM_PROXY_REGISTRY_URL (the nsmgr-proxy) takes name@domain.
// Test infrastructure for nsm-rx's interop tests (the module proxy does not serve cmd-*).
package main

import (
	"os"
	"time"

	"github.com/networkservicemesh/sdk/pkg/registry/chains/memory"
	registryauthorize "github.com/networkservicemesh/sdk/pkg/registry/common/authorize"

	"nsmrx.test/interop/internal/secure"
)

func main() {
	ctx, id, stop := secure.Daemon()
	defer stop()
	paths, clientPaths := secure.RegistryServerPolicies(), secure.RegistryClientPolicies()
	expire := time.Minute
	if v, ok := os.LookupEnv("NSM_EXPIRE_PERIOD"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			secure.Fail("NSM_EXPIRE_PERIOD", err)
		}
		expire = d
	}
	options := []memory.Option{
		memory.WithDefaultExpiration(expire),
		memory.WithAuthorizeNSRegistryServer(registryauthorize.NewNetworkServiceRegistryServer(registryauthorize.WithPolicies(paths...))),
		memory.WithAuthorizeNSERegistryServer(registryauthorize.NewNetworkServiceEndpointRegistryServer(registryauthorize.WithPolicies(paths...))),
		memory.WithAuthorizeNSRegistryClient(registryauthorize.NewNetworkServiceRegistryClient(registryauthorize.WithPolicies(clientPaths...))),
		memory.WithAuthorizeNSERegistryClient(registryauthorize.NewNetworkServiceEndpointRegistryClient(registryauthorize.WithPolicies(clientPaths...))),
		memory.WithDialOptions(id.DialOptions()...),
	}
	if v := os.Getenv("NSM_PROXY_REGISTRY_URL"); v != "" {
		options = append(options, memory.WithProxyRegistryURL(secure.URL(v)))
	}
	registry := memory.NewServer(ctx, id.Token, options...)
	server := id.Server()
	registry.Register(server)
	secure.Serve(ctx, os.Args[1], server)
}
