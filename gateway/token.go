package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
