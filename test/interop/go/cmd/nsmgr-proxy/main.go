// nsmgr-proxy: upstream's interdomain hop (sdk networkservice/chains/nsmgrproxy) served as
// cmd-nsmgr-proxy serves it — SVID from the Workload API, mTLS, spiffejwt tokens, the registry
// policies of NSM_REGISTRY_SERVER_POLICIES — on the tcp URL of its first argument, which is also
// the URL it advertises to other domains. NSM_REGISTRY_URL (this domain's registry) and
// NSM_REGISTRY_PROXY_URL (its registry-proxy-dns) are required; NSM_NAME (nsmgr-proxy) and
// NSM_MAP_IP_FILE_PATH (map-ip.yaml) as upstream; the cluster-info file is upstream's fixed path.
// Test infrastructure for nsm-rx's interop tests (the module proxy does not serve cmd-*).
package main

import (
	"errors"
	"os"
	"time"

	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/nsmgrproxy"
	registryauthorize "github.com/networkservicemesh/sdk/pkg/registry/common/authorize"

	"nsmrx.test/interop/internal/secure"
)

func required(name string) string {
	v := os.Getenv(name)
	if v == "" {
		secure.Fail(name, errors.New("required (tcp://host:port)"))
	}
	return v
}

func main() {
	registryURL, proxyURL := secure.URL(required("NSM_REGISTRY_URL")), secure.URL(required("NSM_REGISTRY_PROXY_URL"))
	ctx, id, stop := secure.Daemon()
	defer stop()
	paths, clientPaths := secure.RegistryServerPolicies(), secure.RegistryClientPolicies()
	proxy := nsmgrproxy.NewServer(ctx, registryURL, proxyURL, id.Token,
		nsmgrproxy.WithName(secure.Env("NSM_NAME", "nsmgr-proxy")),
		nsmgrproxy.WithListenOn(secure.URL(os.Args[1])),
		nsmgrproxy.WithMapIPFilePath(secure.Env("NSM_MAP_IP_FILE_PATH", "map-ip.yaml")),
		nsmgrproxy.WithAuthorizeNSRegistryServer(registryauthorize.NewNetworkServiceRegistryServer(registryauthorize.WithPolicies(paths...))),
		nsmgrproxy.WithAuthorizeNSERegistryServer(registryauthorize.NewNetworkServiceEndpointRegistryServer(registryauthorize.WithPolicies(paths...))),
		nsmgrproxy.WithAuthorizeNSRegistryClient(registryauthorize.NewNetworkServiceRegistryClient(registryauthorize.WithPolicies(clientPaths...))),
		nsmgrproxy.WithAuthorizeNSERegistryClient(registryauthorize.NewNetworkServiceEndpointRegistryClient(registryauthorize.WithPolicies(clientPaths...))),
		nsmgrproxy.WithDialOptions(id.DialOptions()...),
		nsmgrproxy.WithDialTimeout(5*time.Second),
	)
	server := id.Server()
	proxy.Register(server)
	secure.Serve(ctx, os.Args[1], server)
}
