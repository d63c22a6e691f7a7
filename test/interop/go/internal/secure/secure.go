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
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/edwarnicke/grpcfd"
	"github.com/networkservicemesh/sdk/pkg/tools/grpcutils"
	"github.com/networkservicemesh/sdk/pkg/tools/opentelemetry"
	"github.com/networkservicemesh/sdk/pkg/tools/spiffejwt"
	"github.com/networkservicemesh/sdk/pkg/tools/token"
	"github.com/networkservicemesh/sdk/pkg/tools/tracing"
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

// Daemon is how a long-running program starts: a context that ends on SIGINT/SIGTERM, its
// SVID, and with TELEMETRY=true OpenTelemetry as cmd-nsmgr starts it (spans and metrics over
// OTLP/gRPC to NSM_OPEN_TELEMETRY_ENDPOINT, the program's file name as service); stop releases
// them all, sending what is batched.
func Daemon() (ctx context.Context, id *Identity, stop func()) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	id = Fetch(ctx)
	telemetry := startTelemetry(ctx)
	return ctx, id, func() {
		_ = telemetry.Close()
		_ = id.Source.Close()
		cancel()
	}
}

func startTelemetry(ctx context.Context) interface{ Close() error } {
	endpoint := Env("NSM_OPEN_TELEMETRY_ENDPOINT", "otel-collector.observability.svc.cluster.local:4317")
	interval, err := time.ParseDuration(Env("NSM_METRICS_EXPORT_INTERVAL", "10s"))
	if err != nil {
		Fail("NSM_METRICS_EXPORT_INTERVAL", err)
	}
	// Both exporters are nil unless TELEMETRY=true, and Init then does nothing.
	return opentelemetry.Init(context.WithoutCancel(ctx), opentelemetry.InitSpanExporter(ctx, endpoint), opentelemetry.InitOPTLMetricExporter(ctx, endpoint, interval), filepath.Base(os.Args[0]))
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

// DialOptions: mTLS to any SPIFFE server, a token on every call, and a client span per call with TELEMETRY=true.
func (i *Identity) DialOptions() []grpc.DialOption {
	return append(tracing.WithTracingDial(),
		grpc.WithTransportCredentials(grpcfd.TransportCredentials(credentials.NewTLS(tlsconfig.MTLSClientConfig(i.Source, i.Source, tlsconfig.AuthorizeAny())))),
		grpc.WithPerRPCCredentials(token.NewPerRPCCredentials(i.Token)),
		grpcfd.WithChainStreamInterceptor(),
		grpcfd.WithChainUnaryInterceptor(),
	)
}

// Server is a gRPC server asking every client for its SVID, with a server span per call with TELEMETRY=true.
func (i *Identity) Server() *grpc.Server {
	return grpc.NewServer(append(tracing.WithTracing(), grpc.Creds(grpcfd.TransportCredentials(credentials.NewTLS(tlsconfig.MTLSServerConfig(i.Source, i.Source, tlsconfig.AuthorizeAny())))))...)
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
