// registry-client: upstream's registry client chain (sdk registry/chains/client), secure as
// upstream's cmd-* binaries dial: its X.509-SVID from the Workload API at SPIFFE_ENDPOINT_SOCKET
// (go-spiffe), mTLS (tlsconfig.MTLSClientConfig, AuthorizeAny) and spiffejwt per-RPC tokens.
// It registers the NSE named by its second argument at the registry (or nsmgr) URL of its first,
// finds it again and prints one JSON line. Test infrastructure for nsm-rx's interop tests.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/networkservicemesh/api/pkg/api/registry"
	registryclient "github.com/networkservicemesh/sdk/pkg/registry/chains/client"
	"github.com/networkservicemesh/sdk/pkg/tools/spiffejwt"
	"github.com/networkservicemesh/sdk/pkg/tools/token"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	source, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "svid:", err)
		os.Exit(1)
	}
	defer source.Close()
	svid, err := source.GetX509SVID()
	if err != nil {
		fmt.Fprintln(os.Stderr, "svid:", err)
		os.Exit(1)
	}
	u, _ := url.Parse(os.Args[1])
	c := registryclient.NewNetworkServiceEndpointRegistryClient(ctx,
		registryclient.WithClientURL(u),
		registryclient.WithDialOptions(
			grpc.WithTransportCredentials(credentials.NewTLS(tlsconfig.MTLSClientConfig(source, source, tlsconfig.AuthorizeAny()))),
			grpc.WithPerRPCCredentials(token.NewPerRPCCredentials(spiffejwt.TokenGeneratorFunc(source, 10*time.Minute))),
		),
	)
	name := os.Args[2]
	reg, err := c.Register(ctx, &registry.NetworkServiceEndpoint{Name: name, NetworkServiceNames: []string{"icmp-responder"}, Url: "tcp://127.0.0.1:5555"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "register:", err)
		os.Exit(1)
	}
	stream, err := c.Find(ctx, &registry.NetworkServiceEndpointQuery{NetworkServiceEndpoint: &registry.NetworkServiceEndpoint{Name: name}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "find:", err)
		os.Exit(1)
	}
	found := registry.ReadNetworkServiceEndpointList(stream)
	out, _ := json.Marshal(map[string]interface{}{"spiffeId": svid.ID.String(), "registered": reg.Name, "expires": reg.ExpirationTime.AsTime(), "found": len(found)})
	fmt.Println(string(out))
}
