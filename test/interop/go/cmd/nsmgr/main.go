// nsmgr: upstream's node manager (sdk networkservice/chains/nsmgr), secure as upstream's cmd-nsmgr
// (SVID from the Workload API, mTLS with grpcfd, spiffejwt tokens, default authorize policies).
// Arguments: name, listen URLs (comma-separated), advertised URL (a tcp://:port one published as
// cmd-nsmgr does, with an interface address: sdk listenonurl), registry URL.
// Test infrastructure for nsm-rx's interop tests (the module proxy does not serve cmd-*).
package main

import (
	"net"
	"os"
	"time"

	"github.com/networkservicemesh/sdk/pkg/networkservice/chains/nsmgr"
	"github.com/networkservicemesh/sdk/pkg/networkservice/common/authorize"
	"github.com/networkservicemesh/sdk/pkg/tools/listenonurl"

	"nsmrx.test/interop/internal/secure"
)

func main() {
	ctx, id, stop := secure.Daemon()
	defer stop()
	// As cmd-nsmgr's genPublishableURL: a tcp://:port URL is published with an interface address.
	public := secure.URL(os.Args[3])
	if addrs, err := net.InterfaceAddrs(); err == nil {
		public = listenonurl.GetPublicURL(addrs, public)
	}
	mgr := nsmgr.NewServer(ctx, id.Token,
		nsmgr.WithName(os.Args[1]),
		nsmgr.WithURL(public.String()),
		nsmgr.WithRegistry(secure.URL(os.Args[4])),
		nsmgr.WithAuthorizeServer(authorize.NewServer()),
		nsmgr.WithDialTimeout(750*time.Millisecond),
		nsmgr.WithDialOptions(id.DialOptions()...),
	)
	server := id.Server()
	mgr.Register(server)
	secure.Serve(ctx, os.Args[2], server)
}
