package mosquittotest

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds how long Start and Restart wait for mosquitto's
// listener. It is generous because CI machines are slow and shared; a
// healthy mosquitto is ready in milliseconds.
const readyTimeout = 15 * time.Second

// stopTimeout bounds how long Stop waits for mosquitto to exit after SIGTERM
// before it is killed.
const stopTimeout = 10 * time.Second

// Config is what a test may choose about its broker. The zero value is an
// anonymous broker without persistence.
type Config struct {
	// Username and Password, when Username is not empty, are the one account
	// the broker accepts; anonymous clients are then refused. The password
	// is stored hashed (PBKDF2-SHA512, mosquitto's "$7$" format).
	Username string
	Password string

	// Persist keeps retained messages and persistent sessions on disk so
	// that they survive Restart. Without it a restarted broker starts empty,
	// as a cloud broker that lost its disk would.
	Persist bool

	// TLS adds a second listener speaking MQTT over TLS, on its own free
	// loopback port (TLSAddr, TLSURL), with a certificate for 127.0.0.1 and
	// localhost signed by a CA made for the test (CAFile, CertPool).
	TLS bool

	// RequireClientCert makes the TLS listener refuse clients without a
	// certificate signed by the test's CA; ClientCert issues one. It
	// implies TLS.
	RequireClientCert bool

	// TCPNoDelay sets TCP_NODELAY on client connections (set_tcp_nodelay),
	// as most cloud brokers do. mosquitto leaves it off by default, and
	// Nagle's algorithm on its side then meets the client's delayed ACK:
	// a small packet can wait up to 40 ms.
	TCPNoDelay bool

	// Accounts are more username → password pairs the broker accepts,
	// beside Username: one per gateway of a fleet and the portal's own.
	// With any account (or Username) set, anonymous clients are refused.
	// The passwords are stored hashed, as Username's.
	Accounts map[string]string

	// ACL, when not empty, is the text of a mosquitto acl_file, written
	// as given: "user NAME", "topic [read|write|readwrite] FILTER" and
	// "pattern [read|write|readwrite] FILTER" lines, where a pattern's %u
	// is the client's username and %c its client id (mosquitto.conf(5)).
	// Without it every authenticated client may use every topic.
	ACL string

	// IdentityAsUsername makes the TLS listener require a client
	// certificate and take its common name as the client's username
	// (use_identity_as_username), so that ACL patterns with %u confine a
	// client by its certificate. It implies RequireClientCert.
	IdentityAsUsername bool
}

// Server is one running mosquitto. Its methods are safe for concurrent use,
// but Restart, Stall and Resume fail the test on error and so, like
// t.Fatal, must be called from the goroutine running the test.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	conf string
	log  string
	addr string

	tlsAddr string  // "" without TLS
	ca      *testCA // nil without TLS
	caFile  string

	// mu guards cmd, done and stalled.
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	stalled bool
}

// Start runs an anonymous mosquitto on a free loopback port. See StartWith.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Config{})
}

// StartWith runs mosquitto with cfg on a free loopback port and returns when
// it accepts connections. The broker is stopped when the test ends. When
// mosquitto is not installed the test fails, or is skipped under -short.
func StartWith(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if testing.Short() {
			t.Skipf("mosquittotest: %v (skipped under -short)", err)
		}
		t.Fatalf("mosquittotest: %v; install it (Debian: apt-get install mosquitto) or set $MOSQUITTO, or run with -short to skip broker tests", err)
	}
	dir := t.TempDir()
	s := &Server{
		t:    t,
		bin:  bin,
		dir:  dir,
		conf: filepath.Join(dir, "mosquitto.conf"),
		log:  filepath.Join(dir, "mosquitto.log"),
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			s.dumpLog()
		}
	})

	// A port found free may be taken before mosquitto binds it; try a few.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("mosquittotest: %v", err)
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		tlsPort := 0
		if cfg.TLS || cfg.RequireClientCert || cfg.IdentityAsUsername {
			if tlsPort, err = freePort(); err != nil {
				t.Fatalf("mosquittotest: %v", err)
			}
			s.tlsAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
		}
		if err := s.writeConfig(cfg, port, tlsPort); err != nil {
			t.Fatalf("mosquittotest: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("mosquittotest: start mosquitto: %v", lastErr)
	return nil
}

// Binary returns the path of the mosquitto executable, or an error saying
// where it was looked for.
func Binary() (string, error) {
	if p := os.Getenv("MOSQUITTO"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("$MOSQUITTO=%q is not an executable: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("mosquitto not found on $PATH, in /usr/sbin or in /usr/local/sbin")
}

// TLSAddr is the TLS listener's host:port, or "" without Config.TLS. It
// stays the same across Restart.
func (s *Server) TLSAddr() string { return s.tlsAddr }

// TLSURL is the TLS listener as a client URL, e.g. "ssl://127.0.0.1:41884",
// or "" without Config.TLS.
func (s *Server) TLSURL() string {
	if s.tlsAddr == "" {
		return ""
	}
	return "ssl://" + s.tlsAddr
}

// CAFile is the PEM file of the CA that signed the broker's certificate, or
// "" without Config.TLS.
func (s *Server) CAFile() string { return s.caFile }

// CertPool is a pool trusting the test's CA, for a client's tls.Config, or
// nil without Config.TLS.
func (s *Server) CertPool() *x509.CertPool {
	if s.ca == nil {
		return nil
	}
	p := x509.NewCertPool()
	p.AddCert(s.ca.cert)
	return p
}

// ClientCert issues a client certificate for name, signed by the test's CA,
// and returns its PEM certificate and key files. It fails the test without
// Config.TLS.
func (s *Server) ClientCert(name string) (certFile, keyFile string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ca == nil {
		s.t.Fatalf("mosquittotest: ClientCert needs Config.TLS")
	}
	certFile, keyFile, err := s.ca.issue(s.dir, "client-"+name, name, false)
	if err != nil {
		s.t.Fatalf("mosquittotest: issue a client certificate: %v", err)
	}
	return certFile, keyFile
}

// Pid is the running mosquitto's process id, or 0 while it is stopped, for
// tests that measure it (its memory in /proc).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// CPU is the processor time, user and system, the running mosquitto has
// used since it started, read from /proc: what a benchmark charges to the
// broker. It fails while the broker is stopped.
func (s *Server) CPU() (time.Duration, error) {
	pid := s.Pid()
	if pid == 0 {
		return 0, errors.New("mosquittotest: CPU: the broker is stopped")
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("mosquittotest: CPU: %w", err)
	}
	// The command name, in parentheses, may hold spaces; the fields after
	// it are space-separated, utime and stime the 12th and 13th (proc(5)),
	// in clock ticks of 1/100 s (USER_HZ).
	i := bytes.LastIndexByte(raw, ')')
	var f []string
	if i >= 0 {
		f = strings.Fields(string(raw[i+1:]))
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("mosquittotest: CPU: /proc/%d/stat: unexpected %q", pid, raw)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("mosquittotest: CPU: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// Addr is the broker's host:port, e.g. "127.0.0.1:41883". It stays the same
// across Restart.
func (s *Server) Addr() string { return s.addr }

// URL is the broker's address as a client URL, e.g. "tcp://127.0.0.1:41883".
func (s *Server) URL() string { return "tcp://" + s.addr }

// Stop ends mosquitto with SIGTERM (SIGKILL if it does not exit in time) and
// waits for it. Connected clients lose their connection. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Kill ends mosquitto with SIGKILL and waits for it: a crash. Nothing is
// saved on the way out, so with Persist a Restart finds what the last
// autosave wrote, up to a second old. Killing a stopped server does
// nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill() //nolint:errcheck // it may have exited already; done tells.
	<-s.done
	s.cmd, s.done, s.stalled = nil, nil, false
}

// Restart starts mosquitto again on the same address, stopping it first if
// it is running. It fails the test if mosquitto does not come back.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	// The port was ours a moment ago; mosquitto sets SO_REUSEADDR, so only a
	// stranger binding it in between can make this fail.
	if err := s.startLocked(); err != nil {
		s.t.Fatalf("mosquittotest: restart mosquitto on %s: %v", s.addr, err)
	}
}

// Stall freezes mosquitto with SIGSTOP: connections stay open, but nothing
// is read or answered, as with a hung broker or a black-holed network.
// Resume undoes it. The test's cleanup resumes a stalled broker before
// stopping it.
func (s *Server) Stall() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.stalled {
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("mosquittotest: stall mosquitto: %v", err)
	}
	s.stalled = true
}

// Resume lets a stalled mosquitto run again.
func (s *Server) Resume() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.resumeLocked(); err != nil {
		s.t.Fatalf("mosquittotest: resume mosquitto: %v", err)
	}
}

func (s *Server) resumeLocked() error {
	if s.cmd == nil || !s.stalled {
		return nil
	}
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	s.stalled = false
	return nil
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startLocked()
}

func (s *Server) startLocked() error {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	cmd := exec.Command(s.bin, "-c", s.conf)
	cmd.SysProcAttr = dieWithParent()
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("run %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // the exit status of a stopped broker is not news.
		logf.Close()
		close(done)
	}()
	s.cmd, s.done, s.stalled = cmd, done, false

	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-done:
			s.cmd, s.done = nil, nil
			return fmt.Errorf("mosquitto exited before listening on %s: %s", s.addr, s.tailLog())
		default:
		}
		err := s.listening()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("mosquitto not listening after %v: %v: %s", readyTimeout, err, s.tailLog())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// listening checks that every listener accepts connections.
func (s *Server) listening() error {
	for _, addr := range []string{s.addr, s.tlsAddr} {
		if addr == "" {
			continue
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		c.Close()
	}
	return nil
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	s.resumeLocked()                      //nolint:errcheck // a process that cannot be resumed is killed below.
	s.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited already; done tells.
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill() //nolint:errcheck // as above.
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

func (s *Server) writeConfig(cfg Config, port, tlsPort int) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# written by mosquittotest\n")
	if cfg.TCPNoDelay {
		b.WriteString("set_tcp_nodelay true\n")
	}
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", port)
	if tlsPort != 0 {
		if err := s.writeTLS(&b, tlsPort, cfg.RequireClientCert || cfg.IdentityAsUsername); err != nil {
			return err
		}
		if cfg.IdentityAsUsername {
			b.WriteString("use_identity_as_username true\n")
		}
	}
	// mosquitto drops root privileges to the "mosquitto" user unless told
	// otherwise; that user cannot read the test's temporary directory.
	if u, err := user.Current(); err == nil {
		fmt.Fprintf(&b, "user %s\n", u.Username)
	}
	b.WriteString("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\n")
	// Tests publish quickly; do not let mosquitto drop QoS 1 messages for a
	// subscriber that falls a little behind.
	b.WriteString("max_queued_messages 0\nmax_inflight_messages 0\n")
	if cfg.Persist {
		fmt.Fprintf(&b, "persistence true\npersistence_location %s/\nautosave_interval 1\n", s.dir)
	} else {
		b.WriteString("persistence false\n")
	}
	accounts := make(map[string]string, len(cfg.Accounts)+1)
	for u, p := range cfg.Accounts {
		accounts[u] = p
	}
	if cfg.Username != "" {
		accounts[cfg.Username] = cfg.Password
	}
	if len(accounts) > 0 {
		var pw bytes.Buffer
		for _, u := range slices.Sorted(maps.Keys(accounts)) {
			line, err := PasswordLine(u, accounts[u])
			if err != nil {
				return err
			}
			pw.WriteString(line + "\n")
		}
		pwFile := filepath.Join(s.dir, "passwd")
		if err := os.WriteFile(pwFile, pw.Bytes(), 0o600); err != nil {
			return fmt.Errorf("write password file: %w", err)
		}
		fmt.Fprintf(&b, "allow_anonymous false\npassword_file %s\n", pwFile)
	} else if cfg.IdentityAsUsername {
		b.WriteString("allow_anonymous false\n")
	} else {
		b.WriteString("allow_anonymous true\n")
	}
	if cfg.ACL != "" {
		aclFile := filepath.Join(s.dir, "acl")
		if err := os.WriteFile(aclFile, []byte(cfg.ACL), 0o600); err != nil {
			return fmt.Errorf("write ACL file: %w", err)
		}
		fmt.Fprintf(&b, "acl_file %s\n", aclFile)
	}
	if err := os.WriteFile(s.conf, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// writeTLS makes the CA and the broker's certificate (once: Restart keeps
// them) and adds the TLS listener to the configuration.
func (s *Server) writeTLS(b *bytes.Buffer, port int, requireClientCert bool) error {
	if s.ca == nil {
		ca, err := newTestCA()
		if err != nil {
			return fmt.Errorf("make a test CA: %w", err)
		}
		s.caFile = filepath.Join(s.dir, "ca.pem")
		if err := os.WriteFile(s.caFile, ca.certPEM, 0o600); err != nil {
			return fmt.Errorf("write CA: %w", err)
		}
		if _, _, err := ca.issue(s.dir, "server", "localhost", true); err != nil {
			return fmt.Errorf("issue the broker's certificate: %w", err)
		}
		s.ca = ca
	}
	fmt.Fprintf(b, "listener %d 127.0.0.1\n", port)
	fmt.Fprintf(b, "cafile %s\ncertfile %s\nkeyfile %s\n", s.caFile, filepath.Join(s.dir, "server.pem"), filepath.Join(s.dir, "server.key"))
	fmt.Fprintf(b, "require_certificate %t\n", requireClientCert)
	return nil
}

// PasswordLine returns a mosquitto password file line for username and
// password in the "$7$" format (PBKDF2-SHA512, 101 iterations, 12-byte salt),
// the format mosquitto_passwd writes.
func PasswordLine(username, password string) (string, error) {
	salt := make([]byte, 12)
	rand.Read(salt)
	const iterations = 101
	key, err := pbkdf2.Key(sha512.New, password, salt, iterations, sha512.Size)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	enc := base64.StdEncoding
	return fmt.Sprintf("%s:$7$%d$%s$%s", username, iterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) tailLog() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return "log: " + string(bytes.TrimSpace(b))
}

func (s *Server) dumpLog() {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return
	}
	s.t.Logf("mosquittotest: mosquitto log (%s):\n%s", s.addr, b)
}
