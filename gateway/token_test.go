package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestAdminTokenNotPrintedToJournal is from finding 10 of the security
// review: on first start the admin token went to stdout, which under
// systemd is the journal, readable by the adm group for months. When
// $JOURNAL_STREAM names stdout, only the token's file is printed; stdout
// anywhere else (a terminal, a file, a pipe) still shows the token once.
func TestAdminTokenNotPrintedToJournal(t *testing.T) {
	tests := []struct {
		name string
		// stream returns $JOURNAL_STREAM for the test's stdout file.
		stream    func(out *os.File) string
		wantToken bool
	}{
		{"stdout is the journal", func(out *os.File) string { return devIno(t, out) }, false},
		{"only stderr is the journal", func(*os.File) string { return devIno(t, os.Stderr) }, true},
		{"not under systemd", func(*os.File) string { return "" }, true},
		{"garbage in JOURNAL_STREAM", func(*os.File) string { return "journal" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			t.Setenv("JOURNAL_STREAM", tt.stream(out))
			cfg := SimDefaults()
			cfg.Gateway.DataDir = filepath.Join(t.TempDir(), "lintel-data")
			_, stop := runUntilStopped(t, cfg, Options{Out: out})
			stop()
			tokenFile := filepath.Join(cfg.Gateway.DataDir, AdminTokenFile)
			b, err := os.ReadFile(tokenFile)
			if err != nil {
				t.Fatal(err)
			}
			token := strings.TrimSpace(string(b))
			printed, err := os.ReadFile(out.Name())
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(printed), token); got != tt.wantToken {
				t.Errorf("stdout holds the token: %v, want %v; stdout:\n%s", got, tt.wantToken, printed)
			}
			if !strings.Contains(string(printed), tokenFile) {
				t.Errorf("stdout does not say where the token is (%s):\n%s", tokenFile, printed)
			}
		})
	}
}

// devIno is what systemd puts in $JOURNAL_STREAM for f.
func devIno(t *testing.T, f *os.File) string {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
