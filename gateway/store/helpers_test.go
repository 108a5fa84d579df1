package store_test

import (
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/logtest"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gateway/store/storetest"
)

// withLog sends a store's log, at debug level, to lb.
func withLog(lb *logtest.Buffer) func(*store.Options) {
	return func(o *store.Options) {
		o.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{
			Level: slog.LevelDebug,
			// Timestamps are digits that a short PIN could match by chance.
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
	}
}

var pathRE = regexp.MustCompile(`/[^ "]*`)

// assertNoSecret fails if any of the secrets appears in the log.
func assertNoSecret(t *testing.T, lb *logtest.Buffer, secrets ...string) {
	t.Helper()
	// Temporary paths hold random digits that a PIN could match by chance.
	log := pathRE.ReplaceAllString(lb.String(), "PATH")
	for _, s := range secrets {
		if len(s) >= access.MinPINLength && strings.Contains(log, s) {
			t.Errorf("log holds the PIN %q:\n%s", s, log)
		}
	}
}

func update(t testing.TB, s *store.Store, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func putUser(t testing.TB, s *store.Store, id string) {
	t.Helper()
	update(t, s, func(tx *store.Tx) error {
		_, err := tx.PutUser(access.User{ID: id, Name: "User " + id, Enabled: true})
		return err
	})
}

func card(n uint64) access.CardKey { return access.CardKey{Format: "H10301", Facility: 1, Number: n} }

func newStore(t *testing.T, opts ...func(*store.Options)) *store.Store {
	t.Helper()
	return storetest.New(t, opts...)
}

// bigTable is the size of the tests' large tables: 100k users, as in the
// performance budget, or 20k under the race detector.
func bigTable() int {
	if raceEnabled {
		return 20_000
	}
	return 100_000
}
