// ipam-vl3: upstream's vl3 prefix server (sdk ipam/vl3ipam) served as cmd-ipam-vl3 serves it —
// SVID from the Workload API, mTLS — on the URL of its first argument, handing out blocks of
// NSM_CLIENT_PREFIX_LEN (24) from NSM_PREFIX (169.254.0.0/16).
// Test infrastructure for nsm-rx's interop tests (the module proxy does not serve cmd-*).
package main

import (
	"os"
	"strconv"

	"github.com/networkservicemesh/api/pkg/api/ipam"
	"github.com/networkservicemesh/sdk/pkg/ipam/vl3ipam"

	"nsmrx.test/interop/internal/secure"
)

func main() {
	length, err := strconv.ParseUint(secure.Env("NSM_CLIENT_PREFIX_LEN", "24"), 10, 8)
	if err != nil {
		secure.Fail("NSM_CLIENT_PREFIX_LEN", err)
	}
	ctx, id, stop := secure.Daemon()
	defer stop()
	server := id.Server()
	ipam.RegisterIPAMServer(server, vl3ipam.NewIPAMServer(secure.Env("NSM_PREFIX", "169.254.0.0/16"), uint8(length)))
	secure.Serve(ctx, os.Args[1], server)
}
