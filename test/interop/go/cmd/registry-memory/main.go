// registry-memory: upstream's memory registry (sdk registry/chains/memory) served as upstream's
// cmd-registry-memory serves it — SVID from the Workload API, mTLS, spiffejwt tokens and the
// registry policies of NSM_REGISTRY_SERVER_POLICIES — on the URL of its first argument.
// Test infrastructure for nsm-rx's interop tests (the module proxy does not serve cmd-*).
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	registryauthorize "github.com/networkservicemesh/sdk/pkg/registry/common/authorize"
	"github.com/networkservicemesh/sdk/pkg/registry/chains/memory"
	"github.com/networkservicemesh/sdk/pkg/tools/grpcutils"
	"github.com/networkservicemesh/sdk/pkg/tools/spiffejwt"
	"github.com/networkservicemesh/sdk/pkg/tools/token"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	source, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "svid:", err)
		os.Exit(1)
	}
	defer source.Close()
	listenOn, err := url.Parse(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "url:", err)
		os.Exit(2)
	}
	policies := "etc/nsm/opa/common/.*.rego,etc/nsm/opa/registry/.*.rego,etc/nsm/opa/server/.*.rego"
	if v, ok := os.LookupEnv("NSM_REGISTRY_SERVER_POLICIES"); ok {
		policies = v
	}
	tlsClient := tlsconfig.MTLSClientConfig(source, source, tlsconfig.AuthorizeAny())
	tlsServer := tlsconfig.MTLSServerConfig(source, source, tlsconfig.AuthorizeAny())
	registry := memory.NewServer(ctx, spiffejwt.TokenGeneratorFunc(source, 10*time.Minute),
		memory.WithDefaultExpiration(time.Minute),
		memory.WithAuthorizeNSRegistryServer(registryauthorize.NewNetworkServiceRegistryServer(registryauthorize.WithPolicies(strings.Split(policies, ",")...))),
		memory.WithAuthorizeNSERegistryServer(registryauthorize.NewNetworkServiceEndpointRegistryServer(registryauthorize.WithPolicies(strings.Split(policies, ",")...))),
		memory.WithDialOptions(
			grpc.WithTransportCredentials(credentials.NewTLS(tlsClient)),
			grpc.WithPerRPCCredentials(token.NewPerRPCCredentials(spiffejwt.TokenGeneratorFunc(source, 10*time.Minute))),
		),
	)
	server := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsServer)))
	registry.Register(server)
	errCh := grpcutils.ListenAndServe(ctx, listenOn, server)
	fmt.Println("serving", listenOn.String())
	select {
	case err := <-errCh:
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	case <-ctx.Done():
	}
}
