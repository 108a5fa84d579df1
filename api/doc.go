// Package api is Lintel's local HTTP face: the REST API v1, the technician
// status page, Server-Sent Events of the journal, Prometheus metrics and,
// when the simulator is on, the simulator's input routes.
//
// # Shape
//
// The package depends on two small interfaces it defines, [Backend] (the
// appliance: users, PINs, cards, journal, sync, doors) and [Sim] (simulated
// readers and doors), plus the types of gateway/access. The gateway
// implements them; package apitest implements them in memory for tests.
// Echo (github.com/labstack/echo/v4) is used only inside this package: no
// exported name carries an Echo type, so a move to Echo v5 touches nothing
// else. [New] builds a [Server] from a [Config]; [Server.Run] listens and
// serves until its context ends.
//
// # Routes and roles
//
// Every route needs a bearer token (Authorization: Bearer) or the status
// page's session cookie, except GET /healthz, the sign-in form that GET /
// shows without a session (it shows nothing else), and POST /session, which
// takes the token typed into that form. Tokens are configured as SHA-256
// hashes ([Token], [NewToken], [HashToken]) with a [Role]:
//
//	admin       everything, the status page's users view included
//	technician  reads (status, users and their list, events, metrics,
//	            openapi, the policy), the simulator, and door test pulses;
//	            not the status page's users view
//	portal      sync only (POST /api/v1/sync/changes, GET /api/v1/sync);
//	            resetting the sync revision (POST /api/v1/sync/reset) is
//	            admin only
//	monitor     GET /metrics and GET /api/v1/status, nothing else: the
//	            scrape credential of a monitoring system, which opens no
//	            door and reads no user
//
// The document at GET /api/v1/openapi.json lists every route with its roles;
// a test keeps it and the router in step.
//
// # The operator's routes
//
// GET /api/v1/users pages through the user table in id order (after, limit:
// 100 by default, 1000 at most; next is the after of the next page, "" on
// the last) and searches it (q: a substring of the id or the name, without
// regard to case, the API's own rule); the backend iterates its table from
// after and never holds it whole ([Backend.ListUsers]). DELETE
// /api/v1/credentials/{id} removes one card. POST
// /api/v1/users/{id}/credentials/enrol waits, up to wait_seconds (30, at
// most [MaxEnrolWait]), for the next card a reader reads and enrols it; 408
// no_card when none came; the reader's status names the user meanwhile.
// GET /api/v1/export and POST /api/v1/import (admin) carry the whole table
// as a snapshot changeset inside an [ExportDoc]: no PIN, only who held one,
// so that the import can say who needs a new one ([ImportDoc]). A card no
// reader of the gateway can present is refused by the backend (the rule is
// gpio/wiegand's); the API names the body's field. Every change names its
// actor, the token's name, which the backend journals.
//
// # Limits
//
// [Server.Serve] keeps at most [Config.MaxConns] connections open (64 by
// default); one more is answered 503 (too_many_connections) and closed at
// once, rather than left waiting. HTTPS is served as HTTP/1.1 only, so a
// connection carries one request at a time and the cap bounds requests too.
// At most [Config.MaxStreams] event streams are open at once (32: 503
// too_many_streams past it), and at most [Config.MaxStreamsPerToken] of
// them (8) for one token and the status-page sessions signed in with it
// (429 too_many_streams), so a single leaked or looping client cannot take
// them all. Bodies are capped by [Config.BodyLimit] and SyncBodyLimit.
//
// # Host names
//
// Every request, the status page's and /healthz included, must name the
// gateway in its Host header: by an IP address, as "localhost", or by a
// name listed in [Config.Hosts]. Any other name is refused with 421
// (unknown_host) before anything else is looked at. A browser sends the
// name it was pointed at, so a page of another site whose name an attacker
// resolves to the gateway's address (DNS rebinding) gets nothing back.
//
// # Errors
//
// Every error answer is {"error":{"code":"...","message":"..."}}. Codes are
// stable (the Code constants); messages say what was wrong and where, e.g.
// `body: unknown field "nmae"` or `facility: must be a whole number from 0
// to 4294967295, got string`. Bodies are decoded as strictly as changesets,
// with the same library (github.com/go-json-experiment/json): unknown
// fields, a field given twice, a field in the wrong case ("Name" for
// "name"), invalid UTF-8, trailing data and wrong types are 400, bodies over
// the limit 413, bodies that are not JSON 415, well-formed but unacceptable
// values 422 (a user name with a control or invisible formatting character
// such as a bidi override; PIN rules: invalid_pin), conflicts 409
// (pin_in_use, credential_in_use). Answers are encoded with encoding/json,
// whose output the v2 encoder would change (nil slices, omitempty, HTML
// escaping).
//
// The sync routes answer with the backend's ack instead, whatever it says;
// the API chooses the HTTP status from the ack's code ([SyncHTTPStatus],
// the one table of code to status: 503 with Retry-After for busy).
//
// # Secrets
//
// A token is compared in constant time against every configured hash.
// Addresses that send bad tokens, or session cookies that name no session,
// are slowed down: after three failures each further one blocks the address
// for a doubling delay (1 s up to 1 min) and it gets 429 until then. A
// valid token does not clear the count, but a token (or a session of a
// token) that has already been used from the address passes its block, so
// an attacker behind the same NAT does not lock out its technicians; a
// token first presented during a block is held back with the guesses, so a
// blocked guesser cannot tell a right guess from a wrong one. A cookie of a
// session that expired or was signed out is not a guess. The limiter keeps
// at most 10,000 addresses (IPv6 by /64) and never forgets a live one to
// make room: addresses beyond that share one entry. The client address is
// the TCP peer (echo.ExtractIPDirect): the gateway is reached directly, not
// through a proxy. No token, PIN or key press is logged, and a PIN appears
// in exactly one answer, the 201 of the PUT that created it. Key-press
// frames are blanked in the status (see [Frame]).
//
// # Status page
//
// GET / is one server-rendered document (html/template, embedded, with its
// style and script inline under a nonce-based Content-Security-Policy; no
// CDN, no web font) that works on a phone. Without a session it is a
// sign-in form: a technician pastes a token once, POST /session trades it
// for an HttpOnly, SameSite=Strict cookie that maps to a session kept in
// memory. Requests with the cookie that change state must carry the
// session's CSRF token in X-CSRF-Token (or the form field csrf) and, when
// present, a same-origin Origin.
//
// The page opens with its alarm bar, pinned to the top of the window while
// any alarm lasts: a door forced or held open, a door output fault, a
// lockdown, a reader fault, an untrusted clock, a full disk, each in words
// and marked "Alarm", gone by itself when the status no longer reports it.
// Then the gateway, with its local time and zone (every time on the page is
// the gateway's, in status.timezone, with its date and UTC offset, never
// the browser's); each door with its lock, contact and alarms, its
// effective mode, why (override, schedule, waiting for first person in,
// untrusted clock, the reader's configured mode) and its next change, and a
// test-pulse button whose note confirms the unlock and the relock; each
// reader with the frame inspector (last frame's bits, length, parity, the
// decoded card, or for a rejected frame why it was unreadable, e.g.
// "unreadable card: parity error, 26 bits") and reject counters; the
// uplink, journal and sync; and the last events, which arrive live over
// SSE, changes and pulses with their actor. What the page says is worked
// out in Go from the status (page.go), so it reads the same without its
// script; the script only swaps in, from GET /panel, the parts that
// changed, every few seconds, soon after each event and when a timed
// unlock ends. GET /panel requests are logged at debug, every other
// request at info.
//
// # Users view
//
// An admin's session has a second view, GET /users (page_users.go), which
// a technician's page does not link and a technician is refused (403, a
// page in words): the user table, 25 users a page, paged and
// searched by the very query GET /api/v1/users answers (after, q: one
// userQuery, one check, one read of [Backend.ListUsers]). The table reads
// forwards only, so the view's links carry the afters of the pages before
// (prev, at most 20) for its Previous page link. Per user it shows enabled,
// whether a PIN is held (never the PIN), levels, validity and cards. It is
// plain HTML, no script: enabling or disabling (POST /users/{id}/enabled)
// and removing a card (POST /credentials/{id}/remove) are forms whose
// requests are admitted exactly as the API's are (the session's CSRF token
// in the form field csrf, a same-origin Origin; one admit function behind
// both) and that call the backend as PUT /api/v1/users/{id} with enabled
// and DELETE /api/v1/credentials/{id} do, with the session's token name as
// the actor the backend journals. The answer is the same page of users
// again with a note in words: what was done, or why nothing was (an unknown
// user, a card already gone, the backend's refusal as the API words it, a
// full disk). A user deleted between the view's read and its write would
// be made anew by the write; the view takes that back and says the user is
// gone.
package api
