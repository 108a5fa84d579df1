package pkgtest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// repoRoot is the repository root, seen from this package's directory, where
// go test runs the tests.
const repoRoot = "../.."

// versionFlag is how build/cross stamps the version into the binary.
const versionFlag = "-X github.com/lintel-access/lintel/gateway.Version="

// target is one architecture the release covers.
type target struct {
	debArch string // Debian architecture; empty: no .deb (ARMv6)
	tarArch string // the -linux-<arch> in the tarball's name
	machine elf.Machine
	goarch  string
	goarm   string // GOARM build setting; empty for other GOARCHes
}

var targets = []target{
	{debArch: "arm64", tarArch: "arm64", machine: elf.EM_AARCH64, goarch: "arm64"},
	{debArch: "armhf", tarArch: "armv7", machine: elf.EM_ARM, goarch: "arm", goarm: "7"},
	{tarArch: "armv6", machine: elf.EM_ARM, goarch: "arm", goarm: "6"},
	{debArch: "amd64", tarArch: "amd64", machine: elf.EM_X86_64, goarch: "amd64"},
}

// file is one archive member as the checks see it. Diffs compare Digest, the
// SHA-256 of the body, so that a binary of many megabytes is not diffed byte
// by byte.
type file struct {
	Mode     int64
	UID, GID int
	Digest   string
	body     []byte
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ignoreBody makes go-cmp compare files by Digest only.
var ignoreBody = cmpopts.IgnoreUnexported(file{})

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
	tempOut   string // removed by TestMain when the tests built the packages
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tempOut != "" {
		os.RemoveAll(tempOut)
	}
	os.Exit(code)
}

// packages returns the directory holding build/deb's output, building it on
// first use unless $LINTEL_PACKAGES names one.
func packages(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("pkgtest builds or opens every release package; run without -short")
	}
	requireCommands(t, "dpkg-deb")
	buildOnce.Do(func() {
		if dir := os.Getenv("LINTEL_PACKAGES"); dir != "" {
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(repoRoot, dir) // relative to the repository
			}
			builtDir, buildErr = filepath.Abs(dir)
			return
		}
		tempOut, buildErr = os.MkdirTemp("", "lintel-pkgtest")
		if buildErr != nil {
			return
		}
		cmd := exec.Command(filepath.Join(repoRoot, "build", "deb"))
		cmd.Env = append(os.Environ(), "LINTEL_OUT="+tempOut)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build/deb: %w\n%s", err, out)
			return
		}
		builtDir = tempOut
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtDir
}

func requireCommands(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("%s is needed to check Lintel's packages and is not installed (apt-get install dpkg systemd): %v", name, err)
		}
	}
}

// debFile returns the one .deb for arch in dir.
func debFile(t *testing.T, dir, arch string) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "lintel_*_"+arch+".deb"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("want one lintel_*_%s.deb in %s, found %q (%v)", arch, dir, matches, err)
	}
	return matches[0]
}

func TestDebs(t *testing.T) {
	dir := packages(t)
	example := readFile(t, filepath.Join(dir, "lintel.toml.example"))
	if !bytes.Contains(example, []byte(`"/var/lib/lintel"`)) {
		t.Errorf("the example config does not put the data under /var/lib/lintel, the only directory the unit lets lintel write")
	}
	versions := map[string]string{}
	for _, tg := range targets {
		if tg.debArch == "" {
			continue
		}
		t.Run(tg.debArch, func(t *testing.T) {
			deb := debFile(t, dir, tg.debArch)
			control := untar(t, dpkgDeb(t, "--ctrl-tarfile", deb))
			data := untar(t, dpkgDeb(t, "--fsys-tarfile", deb))

			fields := controlFields(t, control["./control"].body)
			versions[tg.debArch] = fields["Version"]
			for key, want := range map[string]string{"Package": "lintel", "Architecture": tg.debArch, "Depends": "systemd"} {
				if got := fields[key]; got != want {
					t.Errorf("control %s: got %q, want %q", key, got, want)
				}
			}
			if !strings.HasSuffix(fields["Version"], "-1") || !strings.Contains(fields["Maintainer"], "<") {
				t.Errorf("control Version %q, Maintainer %q: want a version ending in -1 and a maintainer with an address", fields["Version"], fields["Maintainer"])
			}

			script := func(name string) string { return digest(readFile(t, filepath.Join(repoRoot, "build", "nfpm", name))) }
			wantControl := map[string]file{
				"./control":   {Mode: 0o644, Digest: control["./control"].Digest},
				"./md5sums":   {Mode: 0o644, Digest: control["./md5sums"].Digest},
				"./conffiles": {Mode: 0o644, Digest: digest([]byte("/etc/lintel/lintel.toml\n"))},
				"./postinst":  {Mode: 0o755, Digest: script("postinst")},
				"./prerm":     {Mode: 0o755, Digest: script("prerm")},
				"./postrm":    {Mode: 0o755, Digest: script("postrm")},
			}
			if diff := cmp.Diff(wantControl, control, ignoreBody); diff != "" {
				t.Errorf("control archive members (conffiles and maintainer scripts from build/nfpm/) (-want +got):\n%s", diff)
			}

			binary := data["./usr/bin/lintel"].body
			wantData := map[string]file{
				"./usr/bin/lintel":                            {Mode: 0o755, Digest: digest(binary)},
				"./usr/lib/systemd/system/lintel.service":     {Mode: 0o644, Digest: repoDigest(t, "systemd/lintel.service")},
				"./usr/lib/systemd/system/lintel-key.service": {Mode: 0o644, Digest: repoDigest(t, "systemd/lintel-key.service")},
				"./usr/lib/sysusers.d/lintel.conf":            {Mode: 0o644, Digest: repoDigest(t, "systemd/lintel.sysusers")},
				"./usr/lib/tmpfiles.d/lintel.conf":            {Mode: 0o644, Digest: repoDigest(t, "systemd/lintel.tmpfiles")},
				"./usr/lib/udev/rules.d/60-lintel-gpio.rules": {Mode: 0o644, Digest: repoDigest(t, "systemd/lintel-gpio.rules")},
				"./etc/lintel/lintel.toml":                    {Mode: 0o644, Digest: digest(example)},
			}
			for path, name := range cliFiles {
				wantData["."+path] = file{Mode: 0o644, Digest: digest(readFile(t, filepath.Join(dir, name)))}
			}
			if diff := cmp.Diff(wantData, regular(data), ignoreBody); diff != "" {
				t.Errorf("installed files (-want +got):\n%s", diff)
			}
			checkBinary(t, binary, tg, releaseVersion(t, dir))
		})
	}
	if versions["arm64"] != versions["armhf"] || versions["arm64"] != versions["amd64"] {
		t.Errorf("the packages disagree on their version: %v", versions)
	}
}

func TestTarballs(t *testing.T) {
	dir := packages(t)
	example := readFile(t, filepath.Join(dir, "lintel.toml.example"))
	for _, tg := range targets {
		t.Run(tg.tarArch, func(t *testing.T) {
			matches, err := filepath.Glob(filepath.Join(dir, "lintel-*-linux-"+tg.tarArch+".tar.gz"))
			if err != nil || len(matches) != 1 {
				t.Fatalf("want one lintel-*-linux-%s.tar.gz in %s, found %q (%v)", tg.tarArch, dir, matches, err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(readFile(t, matches[0])))
			if err != nil {
				t.Fatalf("%s: %v", matches[0], err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("%s: %v", matches[0], err)
			}
			top := strings.TrimSuffix(filepath.Base(matches[0]), ".tar.gz")
			got := map[string]file{}
			for name, f := range regular(untar(t, raw)) {
				got[strings.TrimPrefix(name, top+"/")] = f
			}
			want := map[string]file{
				"lintel":               {Mode: 0o755, Digest: got["lintel"].Digest},
				"lintel.service":       {Mode: 0o644, Digest: repoDigest(t, "systemd/lintel.service")},
				"lintel-key.service":   {Mode: 0o644, Digest: repoDigest(t, "systemd/lintel-key.service")},
				"lintel.sysusers":      {Mode: 0o644, Digest: repoDigest(t, "systemd/lintel.sysusers")},
				"lintel.tmpfiles":      {Mode: 0o644, Digest: repoDigest(t, "systemd/lintel.tmpfiles")},
				"60-lintel-gpio.rules": {Mode: 0o644, Digest: repoDigest(t, "systemd/lintel-gpio.rules")},
				"lintel.toml.example":  {Mode: 0o644, Digest: digest(example)},
			}
			for _, name := range cliFiles {
				want[name] = file{Mode: 0o644, Digest: digest(readFile(t, filepath.Join(dir, name)))}
			}
			if diff := cmp.Diff(want, got, ignoreBody); diff != "" {
				t.Errorf("tarball files under %s/ (-want +got):\n%s", top, diff)
			}
			checkBinary(t, got["lintel"].body, tg, releaseVersion(t, dir))
		})
	}
}

// cliFiles are the completion scripts and the man page build/deb
// generates with the binary, by where the .deb installs them; the tarballs
// carry them under these names.
var cliFiles = map[string]string{
	"/usr/share/bash-completion/completions/lintel":    "lintel.bash",
	"/usr/share/zsh/vendor-completions/_lintel":        "_lintel",
	"/usr/share/fish/vendor_completions.d/lintel.fish": "lintel.fish",
	"/usr/share/man/man1/lintel.1.gz":                  "lintel.1.gz",
}

// TestCLIFiles: the completion scripts and the man page shipped are what
// this machine's release binary generates, the man page compressed as
// Debian's are.
func TestCLIFiles(t *testing.T) {
	dir := packages(t)
	var arch string
	switch runtime.GOARCH {
	case "amd64", "arm64":
		arch = runtime.GOARCH
	default:
		t.Fatalf("no release binary runs on %s", runtime.GOARCH)
	}
	bin := filepath.Join(dir, "lintel-linux-"+arch)
	for _, tc := range []struct{ name, shell string }{{"lintel.bash", "bash"}, {"_lintel", "zsh"}, {"lintel.fish", "fish"}} {
		out, err := exec.Command(bin, "completion", tc.shell).Output()
		if err != nil {
			t.Fatalf("%s completion %s: %v", bin, tc.shell, err)
		}
		if !bytes.Equal(out, readFile(t, filepath.Join(dir, tc.name))) {
			t.Errorf("%s is not what `lintel completion %s` prints", tc.name, tc.shell)
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(readFile(t, filepath.Join(dir, "lintel.1.gz"))))
	if err != nil {
		t.Fatalf("lintel.1.gz: %v", err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("lintel.1.gz carries a name %q or a time %v: want gzip -n", zr.Name, zr.ModTime)
	}
	page, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("lintel.1.gz: %v", err)
	}
	man, err := exec.Command(bin, "man").Output()
	if err != nil || !bytes.Equal(page, man) {
		t.Errorf("lintel.1.gz is not what `lintel man` prints (%v)", err)
	}
}

// checkBinary checks that b is a static Linux binary for tg, built the way
// build/cross builds, stamped with version.
func checkBinary(t *testing.T, b []byte, tg target, version string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Errorf("binary: not ELF: %v", err)
		return
	}
	defer f.Close()
	if f.Machine != tg.machine {
		t.Errorf("binary machine: got %v, want %v", f.Machine, tg.machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary has a program interpreter: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary needs shared libraries %q", libs)
	}

	info, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		t.Errorf("binary: no Go build information: %v", err)
		return
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	want := map[string]string{
		"GOOS":        "linux",
		"GOARCH":      tg.goarch,
		"CGO_ENABLED": "0",
		"-trimpath":   "true",
	}
	if tg.goarm != "" {
		want["GOARM"] = tg.goarm
	}
	for key, w := range want {
		if got := settings[key]; got != w {
			t.Errorf("binary build setting %s: got %q, want %q", key, got, w)
		}
	}
	if info.Path != "github.com/lintel-access/lintel/cmd/lintel" {
		t.Errorf("binary main package: got %q, want github.com/lintel-access/lintel/cmd/lintel", info.Path)
	}
	// -trimpath keeps -ldflags out of the build settings, so look for
	// the stamped value itself.
	if !bytes.Contains(b, []byte(version)) {
		t.Errorf("binary does not hold its version %q (build/cross stamps it with %s)", version, versionFlag)
	}
}

// releaseVersion returns the version build/cross stamped, as the tarballs'
// names carry it.
func releaseVersion(t *testing.T, dir string) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "lintel-*-linux-amd64.tar.gz"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("want one lintel-*-linux-amd64.tar.gz in %s, found %q (%v)", dir, matches, err)
	}
	v := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(matches[0]), "lintel-"), "-linux-amd64.tar.gz")
	if v == "" || v == "dev" {
		t.Fatalf("release version %q: build/cross did not stamp a version from git", v)
	}
	return v
}

// TestVersion runs this machine's binary: it prints the version it was
// stamped with.
func TestVersion(t *testing.T) {
	dir := packages(t)
	var arch string
	switch runtime.GOARCH {
	case "amd64", "arm64":
		arch = runtime.GOARCH
	default:
		t.Fatalf("no release binary runs on %s", runtime.GOARCH)
	}
	bin := filepath.Join(dir, "lintel-linux-"+arch)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "lintel "+releaseVersion(t, dir); got != want {
		t.Errorf("%s version: got %q, want %q", bin, got, want)
	}
}

func dpkgDeb(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("dpkg-deb", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// untar reads a tar archive into a map from member name to file.
func untar(t *testing.T, raw []byte) map[string]file {
	t.Helper()
	files := map[string]file{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read tar member %s: %v", h.Name, err)
		}
		f := file{Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid, Digest: digest(body), body: body}
		if h.Typeflag == tar.TypeDir {
			f.Mode |= 1 << 31 // keep directories apart from files in diffs
		}
		files[h.Name] = f
	}
}

// regular drops the directories from files.
func regular(files map[string]file) map[string]file {
	out := map[string]file{}
	for name, f := range files {
		if f.Mode&(1<<31) == 0 {
			out[name] = f
		}
	}
	return out
}

// controlFields parses a Debian control file's single stanza.
func controlFields(t *testing.T, b []byte) map[string]string {
	t.Helper()
	fields := map[string]string{}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, " ") {
			if last == "" {
				t.Fatalf("control: continuation line before any field: %q", line)
			}
			fields[last] += "\n" + line
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("control: line without a field: %q", line)
		}
		last = key
		fields[key] = strings.TrimSpace(value)
	}
	return fields
}

// repoDigest returns the digest of a file named from the repository root.
func repoDigest(t *testing.T, path string) string {
	t.Helper()
	return digest(readFile(t, filepath.Join(repoRoot, filepath.FromSlash(path))))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
