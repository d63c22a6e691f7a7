// nsmgr: upstream's node manager (sdk networkservice/chains/nsmgr), secure as upstream's cmd-nsmgr
// (SVID from the Workload API, mTLS, spiffejwt tokens, default authorize policies), without
// grpcfd. Arguments: name, listen URL (unix), advertised URL, registry URL.
// Test infrastructure for nsm-rx's interop tests (the module proxy does not serve cmd-*).
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/nsmgr"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/authorize"
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
	name, listen, advertised, registry := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	listenOn, err1 := url.Parse(listen)
	registryURL, err2 := url.Parse(registry)
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "urls:", err1, err2)
		os.Exit(2)
	}
	gen := spiffejwt.TokenGeneratorFunc(source, 10*time.Minute)
	mgr := nsmgr.NewServer(ctx, gen,
		nsmgr.WithName(name),
		nsmgr.WithURL(advertised),
		nsmgr.WithRegistry(registryURL),
		nsmgr.WithAuthorizeServer(authorize.NewServer()),
		nsmgr.WithDialTimeout(750*time.Millisecond),
		nsmgr.WithDialOptions(
			grpc.WithTransportCredentials(credentials.NewTLS(tlsconfig.MTLSClientConfig(source, source, tlsconfig.AuthorizeAny()))),
			grpc.WithPerRPCCredentials(token.NewPerRPCCredentials(gen)),
		),
	)
	server := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsconfig.MTLSServerConfig(source, source, tlsconfig.AuthorizeAny()))))
	mgr.Register(server)
	errCh := grpcutils.ListenAndServe(ctx, listenOn, server)
	fmt.Println("serving", listenOn.String())
	select {
	case err := <-errCh:
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	case <-ctx.Done():
	}
}
