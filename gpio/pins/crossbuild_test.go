package pins

import (
	"os"
	"os/exec"
	"testing"
)

// TestCrossBuild builds the GPIO packages, the gpioioctl path included, for
// the Raspberry Pi targets Lintel ships: linux/arm64 and linux/arm v6 and
// v7, without cgo.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross builds take a while; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to cross-build: %v", err)
	}
	for _, target := range []struct{ name, arch, arm string }{
		{"arm64", "arm64", ""},
		{"armv6", "arm", "6"},
		{"armv7", "arm", "7"},
	} {
		t.Run(target.name, func(t *testing.T) {
			cmd := exec.Command(goBin, "build", "-o", os.DevNull, "github.com/lintel-access/lintel/gpio/...")
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+target.arch, "GOARM="+target.arm, "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("GOARCH=%s GOARM=%s go build: %v\n%s", target.arch, target.arm, err, out)
			}
		})
	}
}
