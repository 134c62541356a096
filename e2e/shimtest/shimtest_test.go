// Runs containerd/shimtest's conformance suites, as a library, against the shim binary named by
// SHIM_BINARY (our containerd-shim-kata-qemu-v2). One top-level test per shimtest suite, so
// `go test -run '^TestRun$/^Lifecycle$'` selects a suite or a single test of it. run.sh drives
// this and prints per-suite counts.
package shimtest

import (
	"os"
	"strconv"
	"testing"

	"github.com/containerd/shimtest"
	"github.com/containerd/typeurl/v2"
	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestMain(m *testing.M) {
	// What containerd's client registers at init and shimtest's own runner does in its TestMain:
	// exec requests carry a specs.Process as a typeurl Any.
	typeurl.Register(&specs.Process{}, "types.containerd.io", "opencontainers/runtime-spec",
		strconv.Itoa(specs.VersionMajor), "Process")
	os.Exit(m.Run())
}

func config(t *testing.T) shimtest.Config {
	bin := os.Getenv("SHIM_BINARY")
	if bin == "" {
		t.Fatal("SHIM_BINARY is not set")
	}
	if os.Getenv("SHIMTEST_TESTBIN") == "" {
		t.Fatal("SHIMTEST_TESTBIN is not set (go install github.com/containerd/shimtest/cmd/testbin)")
	}
	// A VM-based shim could take the rootfs as erofs/ext4 images (FormatMounts); ours takes
	// containerd's usual pre-made overlay mount and mounts it on the host, as runc's shim does.
	return shimtest.Config{ShimBinary: bin, Debug: os.Getenv("SHIMTEST_DEBUG") != ""}
}

func TestRun(t *testing.T)      { shimtest.NewRunSuite(config(t)).Run(t) }
func TestExec(t *testing.T)     { shimtest.NewExecSuite(config(t)).Run(t) }
func TestOOM(t *testing.T)      { shimtest.NewOOMSuite(config(t)).Run(t) }
func TestTransfer(t *testing.T) { shimtest.NewTransferSuite(config(t)).Run(t) }
func TestUDS(t *testing.T)      { shimtest.NewUDSSuite(config(t)).Run(t) }
func TestLayers(t *testing.T)   { shimtest.NewLayersSuite(config(t)).Run(t) }
func TestNetwork(t *testing.T)  { shimtest.NewNetworkSuite(config(t)).Run(t) }
