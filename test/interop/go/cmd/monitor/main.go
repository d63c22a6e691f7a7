// monitor: what upstream's dashboard backend (cmd-dashboard-backend) does at every nsmgr — a
// MonitorConnections call with an empty selector — dialed as upstream's cmd-* binaries dial
// (X.509-SVID from the Workload API, mTLS, spiffejwt per-RPC tokens). Prints the first event as
// one JSON line {spiffeId, type, connections: {id: [segment names]}}, or {spiffeId, code,
// message} when the call is refused (exit 1). Test infrastructure for nsm-rx's interop tests.
package main

import (
	"context"
	"os"
	"time"

	"github.com/networkservicemesh/api/pkg/api/networkservice"
	"github.com/networkservicemesh/sdk/pkg/tools/grpcutils"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

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
	cc, err := grpc.NewClient(grpcutils.URLToTarget(secure.URL(os.Args[1])), id.DialOptions()...)
	if err != nil {
		secure.Fail("dial", err)
	}
	defer cc.Close()
	refused := func(err error) {
		s := status.Convert(err)
		secure.Print(map[string]any{"spiffeId": svid.ID.String(), "code": s.Code().String(), "message": s.Message()})
		os.Exit(1)
	}
	stream, err := networkservice.NewMonitorConnectionClient(cc).MonitorConnections(ctx, &networkservice.MonitorScopeSelector{})
	if err != nil {
		refused(err)
	}
	event, err := stream.Recv()
	if err != nil {
		refused(err)
	}
	connections := map[string][]string{}
	for connID, conn := range event.GetConnections() {
		var names []string
		for _, s := range conn.GetPath().GetPathSegments() {
			names = append(names, s.GetName())
		}
		connections[connID] = names
	}
	secure.Print(map[string]any{"spiffeId": svid.ID.String(), "type": event.GetType().String(), "connections": connections})
}
