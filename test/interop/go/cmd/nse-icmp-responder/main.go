// nse-icmp-responder: upstream's cmd-nse-icmp-responder as the sdk builds it — endpoint chain
// with point2pointipam over NSM_CIDR_PREFIX, the sdk kernel mechanism (its netns named
// file:///proc/thread-self/ns/net, which sendfd turns into a passed fd and an inode:// URL),
// its services and itself registered through NSM_CONNECT_TO, its unix socket passed the same way.
// Environment: NSM_NAME, NSM_CONNECT_TO, NSM_SERVICE_NAMES, NSM_CIDR_PREFIX, NSM_LISTEN_ON.
// Test infrastructure for nsm-rx's interop tests (the module proxy does not serve cmd-*).
package main

import (
	"context"
	"net"
	"os"
	"strings"

	"github.com/networkservicemesh/api/pkg/api/networkservice"
	kernelmech "github.com/networkservicemesh/api/pkg/api/networkservice/mechanisms/kernel"
	registryapi "github.com/networkservicemesh/api/pkg/api/registry"
	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/endpoint"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/authorize"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/mechanisms"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/mechanisms/kernel"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/mechanisms/sendfd"
	"github.com/networkservicemesh/sdk/pkg/networkservice/ipam/point2pointipam"
	registryclient "github.com/networkservicemesh/sdk/pkg/registry/chains/client"
	registrysendfd "github.com/networkservicemesh/sdk/pkg/registry/common/sendfd"

	"nsmrx.test/interop/internal/secure"
)

func main() {
	ctx, id, stop := secure.Daemon()
	defer stop()
	name := secure.Env("NSM_NAME", "icmp-server")
	serviceNames := strings.Split(secure.Env("NSM_SERVICE_NAMES", "icmp-responder"), ",")
	_, cidr, err := net.ParseCIDR(secure.Env("NSM_CIDR_PREFIX", "169.254.0.0/24"))
	if err != nil {
		secure.Fail("NSM_CIDR_PREFIX", err)
	}
	listenOn := secure.URL(os.Getenv("NSM_LISTEN_ON"))

	nse := endpoint.NewServer(ctx, id.Token,
		endpoint.WithName(name),
		endpoint.WithAuthorizeServer(authorize.NewServer()),
		endpoint.WithAdditionalFunctionality(
			point2pointipam.NewServer(cidr),
			mechanisms.NewServer(map[string]networkservice.NetworkServiceServer{
				kernelmech.MECHANISM: kernel.NewServer(),
			}),
			sendfd.NewServer(),
		),
	)
	server := id.Server()
	nse.Register(server)
	go secure.Serve(ctx, listenOn.String(), server)

	services := registryclient.NewNetworkServiceRegistryClient(ctx,
		registryclient.WithClientURL(secure.URL(os.Getenv("NSM_CONNECT_TO"))),
		registryclient.WithDialOptions(id.DialOptions()...),
	)
	for _, service := range serviceNames {
		if _, err := services.Register(ctx, &registryapi.NetworkService{Name: service, Payload: "ETHERNET"}); err != nil {
			secure.Fail("register "+service, err)
		}
	}
	registry := registryclient.NewNetworkServiceEndpointRegistryClient(ctx,
		registryclient.WithClientURL(secure.URL(os.Getenv("NSM_CONNECT_TO"))),
		registryclient.WithDialOptions(id.DialOptions()...),
		registryclient.WithNSEAdditionalFunctionality(registrysendfd.NewNetworkServiceEndpointRegistryClient()),
	)
	registered, err := registry.Register(ctx, &registryapi.NetworkServiceEndpoint{
		Name:                name,
		NetworkServiceNames: serviceNames,
		Url:                 listenOn.String(),
	})
	if err != nil {
		secure.Fail("register", err)
	}
	secure.Print(map[string]any{"event": "registered", "name": registered.GetName(), "url": registered.GetUrl()})
	<-ctx.Done()
	_, _ = registry.Unregister(context.Background(), registered)
}
