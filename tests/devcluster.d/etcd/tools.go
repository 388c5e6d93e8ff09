//go:build tools

// Package tools pins the etcd command built by tests/devcluster; it is never compiled.
package tools

import _ "go.etcd.io/etcd/server/v3"
