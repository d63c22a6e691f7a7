// Package secure is what every reference program sets up as upstream's cmd-* binaries do: the
// X.509-SVID from the Workload API (SPIFFE_ENDPOINT_SOCKET), mTLS with any SPIFFE peer, and
// spiffejwt per-RPC tokens, with grpcfd on the transport (file descriptors passed over unix
// sockets for inode:// URLs) as cmd-nsmgr, cmd-nsc and cmd-nse-icmp-responder have it.
package secure

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/edwarnicke/grpcfd"
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

// Daemon is how a long-running program starts: a context that ends on SIGINT/SIGTERM and its
// SVID; stop releases both.
func Daemon() (ctx context.Context, id *Identity, stop func()) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	id = Fetch(ctx)
	return ctx, id, func() {
		_ = id.Source.Close()
		cancel()
	}
}

// Fetch waits for this process's SVID from the Workload API; tokens live NSM_MAX_TOKEN_LIFETIME.
func Fetch(ctx context.Context) *Identity {
	source, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		Fail("svid", err)
	}
	lifetime, err := time.ParseDuration(Env("NSM_MAX_TOKEN_LIFETIME", "10m"))
	if err != nil {
		Fail("NSM_MAX_TOKEN_LIFETIME", err)
	}
	return &Identity{Source: source, Token: spiffejwt.TokenGeneratorFunc(source, lifetime)}
}

// DialOptions: mTLS to any SPIFFE server, and a token on every call.
func (i *Identity) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(grpcfd.TransportCredentials(credentials.NewTLS(tlsconfig.MTLSClientConfig(i.Source, i.Source, tlsconfig.AuthorizeAny())))),
		grpc.WithPerRPCCredentials(token.NewPerRPCCredentials(i.Token)),
		grpcfd.WithChainStreamInterceptor(),
		grpcfd.WithChainUnaryInterceptor(),
	}
}

// Server is a gRPC server asking every client for its SVID.
func (i *Identity) Server() *grpc.Server {
	return grpc.NewServer(grpc.Creds(grpcfd.TransportCredentials(credentials.NewTLS(tlsconfig.MTLSServerConfig(i.Source, i.Source, tlsconfig.AuthorizeAny())))))
}

// Env is an NSM_* variable or its default.
func Env(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return fallback
}

// Serve serves on every URL of `listen` (comma-separated, as NSM_LISTEN_ON) until ctx ends; a
// serving error exits.
func Serve(ctx context.Context, listen string, server *grpc.Server) {
	errs := make(chan error, 1)
	for _, raw := range strings.Split(listen, ",") {
		u := URL(raw)
		go func(errCh <-chan error) {
			if err, ok := <-errCh; ok {
				errs <- err
			}
		}(grpcutils.ListenAndServe(ctx, u, server))
		fmt.Println("serving", u.String())
	}
	select {
	case err := <-errs:
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

// Print writes v as one JSON line on stdout (what the tests read).
func Print(v any) {
	out, err := json.Marshal(v)
	if err != nil {
		Fail("json", err)
	}
	fmt.Println(string(out))
}
