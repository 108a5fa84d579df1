package gateway

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/lintel-access/lintel/api"
)

// AdminTokenFile is the name, inside the data directory, of the admin token
// made on first start. The CLI reads it when no token is given.
const AdminTokenFile = "admin.token"

// adminToken returns the admin token kept in dir, creating it (mode 0600,
// written atomically) on first use. created reports whether it is new, so
// the caller prints it exactly once.
func adminToken(dir string) (token string, created bool, err error) {
	path := filepath.Join(dir, AdminTokenFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", false, fmt.Errorf("admin token: %s is empty; delete it to make a new one", path)
		}
		return t, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	plain, _ := api.NewToken()
	if err := writeFileAtomic(path, []byte(plain+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	return plain, true, nil
}

// printAdminToken shows a new admin token once on out, unless out is the
// systemd journal: the journal keeps it for months and shows it to every
// member of the adm and systemd-journal groups, so then only the file
// that holds it is named.
func printAdminToken(out io.Writer, token, path string) {
	if isJournal(out) {
		fmt.Fprintf(out, "lintel: made an admin API token; it is in %s (mode 0600), not in the journal: read it with `sudo cat %s`\n", path, path)
		return
	}
	fmt.Fprintf(out, "lintel: admin API token (shown once, kept in %s):\n%s\n", path, token)
}

// isJournal reports whether w is the stream systemd connected to the
// journal: $JOURNAL_STREAM is that stream's "DEVICE:INODE", and w is a file
// with the same device and inode. A stdout redirected elsewhere (a file, a
// pipe, a terminal) does not match, even when stderr still goes to the
// journal.
func isJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	dev, ino, found := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok || !found {
		return false
	}
	wantDev, err1 := strconv.ParseUint(dev, 10, 64)
	wantIno, err2 := strconv.ParseUint(ino, 10, 64)
	fi, err3 := f.Stat()
	if err1 != nil || err2 != nil || err3 != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == wantDev && uint64(st.Ino) == wantIno
}

// writeFileAtomic writes data to path through a synced temporary file and a
// rename, so a power cut leaves either the old file or the new one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// apiTokens turns the configured tokens into the API's, adding the admin
// token from the data directory when no admin token is configured.
func apiTokens(cfg *Config, adminPlain string) []api.Token {
	var out []api.Token
	for _, t := range cfg.API.Tokens {
		out = append(out, api.Token{Name: t.Name, Role: api.Role(t.Role), Hash: t.SHA256})
	}
	if adminPlain != "" {
		out = append(out, api.Token{Name: "admin (" + AdminTokenFile + ")", Role: api.RoleAdmin, Hash: api.HashToken(adminPlain)})
	}
	return out
}

func hasAdmin(cfg *Config) bool {
	for _, t := range cfg.API.Tokens {
		if t.Role == string(api.RoleAdmin) {
			return true
		}
	}
	return false
}
