package secure

import "strings"

// RegistryServerPolicies is NSM_REGISTRY_SERVER_POLICIES as upstream's registries read it.
func RegistryServerPolicies() []string {
	return strings.Split(Env("NSM_REGISTRY_SERVER_POLICIES", "etc/nsm/opa/common/.*.rego,etc/nsm/opa/registry/.*.rego,etc/nsm/opa/server/.*.rego"), ",")
}
