// nsc: upstream's cmd-nsc as the sdk builds it — client chain (authorize, heal, retry) with the
// sdk kernel mechanism (its netns named file:///proc/thread-self/ns/net, which sendfd turns into a
// passed fd and an inode:// URL). Requests each NSM_NETWORK_SERVICES entry
// (kernel://<service>/<interface>) with id <NSM_NAME>-<i> through NSM_CONNECT_TO, prints each
// connection as a JSON line, and closes them on SIGTERM.
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

	"github.com/networkservicemesh/api/pkg/api/networkservice"
	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/client"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/authorize"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/heal"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/mechanisms/kernel"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/mechanisms/sendfd"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/retry"
	"github.com/networkservicemesh/sdk/pkg/tools/nsurl"
	"google.golang.org/protobuf/encoding/protojson"

	"nsmrx.test/interop/internal/secure"
)

func main() {
	signalled, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	// The chains outlive the signal: their connections are closed after it.
	ctx, stopChains := context.WithCancel(context.Background())
	defer stopChains()
	id := secure.Fetch(ctx)
	defer id.Source.Close()
	name := secure.Env("NSM_NAME", "nsc")
	connectTo := secure.URL(os.Getenv("NSM_CONNECT_TO"))

	var conns []*networkservice.Connection
	var clients []networkservice.NetworkServiceClient
	for i, raw := range strings.Split(os.Getenv("NSM_NETWORK_SERVICES"), ",") {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "kernel" {
			secure.Fail("NSM_NETWORK_SERVICES", fmt.Errorf("%q: want kernel://<service>/<interface>", raw))
		}
		nsc := retry.NewClient(client.NewClient(ctx,
			client.WithClientURL(connectTo),
			client.WithName(name),
			client.WithAuthorizeClient(authorize.NewClient()),
			client.WithHealClient(heal.NewClient(ctx)),
			client.WithAdditionalFunctionality(
				kernel.NewClient(kernel.WithInterfaceName(strings.TrimPrefix(u.Path, "/"))),
				sendfd.NewClient(),
			),
			client.WithDialOptions(id.DialOptions()...),
			client.WithDialTimeout(5*time.Second),
		))
		conn, err := nsc.Request(ctx, &networkservice.NetworkServiceRequest{
			Connection: &networkservice.Connection{Id: fmt.Sprintf("%s-%d", name, i), NetworkService: (*nsurl.NSURL)(u).NetworkService()},
		})
		if err != nil {
			secure.Fail("request", err)
		}
		report("connected", conn)
		conns = append(conns, conn)
		clients = append(clients, nsc)
	}
	<-signalled.Done()
	for i, conn := range conns {
		closeCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := clients[i].Close(closeCtx, conn); err != nil {
			secure.Fail("close", err)
		}
		done()
		report("closed", conn)
	}
}

// report prints a connection as the nsm-rx nsc does: {"event": ..., "connection": <protojson>}.
func report(event string, conn *networkservice.Connection) {
	out, err := protojson.Marshal(conn)
	if err != nil {
		secure.Fail("json", err)
	}
	fmt.Printf("{\"event\":%q,\"connection\":%s}\n", event, out)
}
