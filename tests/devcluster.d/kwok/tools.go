//go:build tools

// Package tools pins the kwok command built by tests/devcluster; it is never compiled.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
