// Package secure is what every reference program sets up as upstream's cmd-* binaries do: the
// X.509-SVID from the Workload API (SPIFFE_ENDPOINT_SOCKET), mTLS with any SPIFFE peer, and
// spiffejwt per-RPC tokens.
package secure

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/networkservicemesh/sdk/pkg/tools/grpcutils"
	"github.com/networkservicemesh/sdk/pkg/tools/spiffejwt"
	"github.com/networkservicemesh/sdk/pkg/tools/token"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Identity is a workload's SVID source and the token generator built on it.
type Identity struct {
	Source *workloadapi.X509Source
	Token  token.GeneratorFunc
}

// Fail prints what went wrong and exits (code 1).
func Fail(what string, err error) {
	fmt.Fprintln(os.Stderr, what+":", err)
	os.Exit(1)
}

// Fetch waits for this process's SVID from the Workload API.
func Fetch(ctx context.Context) *Identity {
	source, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		Fail("svid", err)
	}
	return &Identity{Source: source, Token: spiffejwt.TokenGeneratorFunc(source, 10*time.Minute)}
}

// DialOptions: mTLS to any SPIFFE server, and a token on every call.
func (i *Identity) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(tlsconfig.MTLSClientConfig(i.Source, i.Source, tlsconfig.AuthorizeAny()))),
		grpc.WithPerRPCCredentials(token.NewPerRPCCredentials(i.Token)),
	}
}

// Server is a gRPC server asking every client for its SVID.
func (i *Identity) Server() *grpc.Server {
	return grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsconfig.MTLSServerConfig(i.Source, i.Source, tlsconfig.AuthorizeAny()))))
}

// Serve serves on `listen` until ctx ends; a serving error exits.
func Serve(ctx context.Context, listen *url.URL, server *grpc.Server) {
	errCh := grpcutils.ListenAndServe(ctx, listen, server)
	fmt.Println("serving", listen.String())
	select {
	case err := <-errCh:
		Fail("serve", err)
	case <-ctx.Done():
	}
}

// URL parses a URL argument or exits (code 2).
func URL(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "url:", err)
		os.Exit(2)
	}
	return u
}
