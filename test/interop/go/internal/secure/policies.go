package secure

import "strings"

// RegistryServerPolicies is NSM_REGISTRY_SERVER_POLICIES as upstream's registries read it.
func RegistryServerPolicies() []string {
	return strings.Split(Env("NSM_REGISTRY_SERVER_POLICIES", "etc/nsm/opa/common/.*.rego,etc/nsm/opa/registry/.*.rego,etc/nsm/opa/server/.*.rego"), ",")
}

// RegistryClientPolicies is NSM_REGISTRY_CLIENT_POLICIES: what upstream's registries and proxies
// check in the answers of the registries they call.
func RegistryClientPolicies() []string {
	return strings.Split(Env("NSM_REGISTRY_CLIENT_POLICIES", "etc/nsm/opa/common/.*.rego,etc/nsm/opa/registry/.*.rego,etc/nsm/opa/client/.*.rego"), ",")
}
