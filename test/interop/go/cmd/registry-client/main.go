// registry-client: upstream's registry client chain (sdk registry/chains/client), secure as
// upstream's cmd-* binaries dial: its X.509-SVID from the Workload API at SPIFFE_ENDPOINT_SOCKET
// (go-spiffe), mTLS (tlsconfig.MTLSClientConfig, AuthorizeAny) and spiffejwt per-RPC tokens.
// It registers the NSE named by its second argument at the registry (or nsmgr) URL of its first,
// once (no retry: a refusal is reported at once), checks the answer with upstream's default
// registry client policies (NSM_REGISTRY_CLIENT_POLICIES: common, registry, client), finds it
// again and prints one JSON line with the answer's path ids.
// Test infrastructure for nsm-rx's interop tests.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/networkservicemesh/api/pkg/api/registry"
	registryclient "github.com/networkservicemesh/sdk/pkg/registry/chains/client"
	registryauthorize "github.com/networkservicemesh/sdk/pkg/registry/common/authorize"
	"github.com/networkservicemesh/sdk/pkg/registry/common/null"

	"nsmrx.test/interop/internal/secure"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := secure.Fetch(ctx)
	defer id.Source.Close()
	svid, err := id.Source.GetX509SVID()
	if err != nil {
		secure.Fail("svid", err)
	}
	c := registryclient.NewNetworkServiceEndpointRegistryClient(ctx,
		registryclient.WithClientURL(secure.URL(os.Args[1])),
		registryclient.WithDialOptions(id.DialOptions()...),
		registryclient.WithNSERetryClient(null.NewNetworkServiceEndpointRegistryClient()),
		registryclient.WithAuthorizeNSERegistryClient(registryauthorize.NewNetworkServiceEndpointRegistryClient(
			registryauthorize.WithPolicies("etc/nsm/opa/common/.*.rego", "etc/nsm/opa/registry/.*.rego", "etc/nsm/opa/client/.*.rego"))),
	)
	name := os.Args[2]
	reg, err := c.Register(ctx, &registry.NetworkServiceEndpoint{Name: name, NetworkServiceNames: []string{"icmp-responder"}, Url: "tcp://127.0.0.1:5555"})
	if err != nil {
		secure.Fail("register", err)
	}
	stream, err := c.Find(ctx, &registry.NetworkServiceEndpointQuery{NetworkServiceEndpoint: &registry.NetworkServiceEndpoint{Name: name}})
	if err != nil {
		secure.Fail("find", err)
	}
	found := registry.ReadNetworkServiceEndpointList(stream)
	out, _ := json.Marshal(map[string]interface{}{"spiffeId": svid.ID.String(), "registered": reg.Name, "pathIds": reg.PathIds, "expires": reg.ExpirationTime.AsTime(), "found": len(found)})
	fmt.Println(string(out))
}
