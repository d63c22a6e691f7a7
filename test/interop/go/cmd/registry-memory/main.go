// registry-memory: upstream's memory registry (sdk registry/chains/memory) served as upstream's
// cmd-registry-memory serves it — SVID from the Workload API, mTLS, spiffejwt tokens and the
// registry policies of NSM_REGISTRY_SERVER_POLICIES, NSEs kept NSM_EXPIRE_PERIOD (1m) without a
// refresh — on the URL of its first argument.
// Test infrastructure for nsm-rx's interop tests (the module proxy does not serve cmd-*).
package main

import (
	"os"
	"strings"
	"time"

	"github.com/networkservicemesh/sdk/pkg/registry/chains/memory"
	registryauthorize "github.com/networkservicemesh/sdk/pkg/registry/common/authorize"

	"nsmrx.test/interop/internal/secure"
)

func main() {
	ctx, id, stop := secure.Daemon()
	defer stop()
	policies := "etc/nsm/opa/common/.*.rego,etc/nsm/opa/registry/.*.rego,etc/nsm/opa/server/.*.rego"
	if v, ok := os.LookupEnv("NSM_REGISTRY_SERVER_POLICIES"); ok {
		policies = v
	}
	paths := strings.Split(policies, ",")
	expire := time.Minute
	if v, ok := os.LookupEnv("NSM_EXPIRE_PERIOD"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			secure.Fail("NSM_EXPIRE_PERIOD", err)
		}
		expire = d
	}
	registry := memory.NewServer(ctx, id.Token,
		memory.WithDefaultExpiration(expire),
		memory.WithAuthorizeNSRegistryServer(registryauthorize.NewNetworkServiceRegistryServer(registryauthorize.WithPolicies(paths...))),
		memory.WithAuthorizeNSERegistryServer(registryauthorize.NewNetworkServiceEndpointRegistryServer(registryauthorize.WithPolicies(paths...))),
		memory.WithDialOptions(id.DialOptions()...),
	)
	server := id.Server()
	registry.Register(server)
	secure.Serve(ctx, os.Args[1], server)
}
