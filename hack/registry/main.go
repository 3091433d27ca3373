// Command registry is the CNCF distribution registry
// (github.com/distribution/distribution/v3, Apache-2.0) with only the
// filesystem storage driver linked in: the OCI chart tests need nothing more,
// and leaving out the cloud storage drivers (azure, gcs, s3) makes a cold
// build much cheaper. Test tool of this repository (make tools), never
// shipped; tests run it on 127.0.0.1 only.
package main

import (
	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	// RootCmd exits non-zero itself when serve fails.
	_ = registry.RootCmd.Execute()
}
