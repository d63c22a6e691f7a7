// policies: upstream's OPA path policies (sdk tools/opa, its embedded rego files) as a verdict
// service. Reads JSON lines {policy, path (protojson networkservice.Path), certificate (PEM of
// the TLS peer, or "")} on stdin and prints one line {allowed, error} per case, the policy
// checked as upstream's authorize elements check it. Test infrastructure for nsm-rx's interop
// tests (upstream's verdicts beside nsm-rx's).
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"

	"github.com/networkservicemesh/api/pkg/api/networkservice"
	"github.com/networkservicemesh/sdk/pkg/tools/opa"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/encoding/protojson"

	"nsmrx.test/interop/internal/secure"
)

type verdict struct {
	Allowed bool   `json:"allowed"`
	Error   string `json:"error,omitempty"`
}

func check(line []byte) error {
	var c struct {
		Policy      string          `json:"policy"`
		Path        json.RawMessage `json:"path"`
		Certificate string          `json:"certificate"`
	}
	if err := json.Unmarshal(line, &c); err != nil {
		return err
	}
	path := &networkservice.Path{}
	if err := protojson.Unmarshal(c.Path, path); err != nil {
		return err
	}
	ctx := context.Background()
	if c.Certificate != "" {
		block, _ := pem.Decode([]byte(c.Certificate))
		if block == nil {
			return errors.New("certificate: not PEM")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return err
		}
		ctx = peer.NewContext(ctx, &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}}})
	}
	policy, err := opa.PolicyFromFile(c.Policy)
	if err != nil {
		return err
	}
	return policy.Check(ctx, path)
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		err := check(in.Bytes())
		v := verdict{Allowed: err == nil}
		if err != nil {
			v.Error = err.Error()
		}
		secure.Print(v)
	}
}
