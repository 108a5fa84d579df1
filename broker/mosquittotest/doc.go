// Package mosquittotest starts a real mosquitto broker for tests.
//
// Lintel's tests use a real broker wherever a broker is on the other end of
// the wire: as the cloud broker the uplink forwards the journal to, and as
// the yardstick the embedded broker's throughput is measured against. A fake
// would agree with whatever the code under test believes about MQTT; a real
// mosquitto does not.
//
// Start picks a free loopback port, writes a mosquitto configuration into the
// test's temporary directory and runs mosquitto in the foreground. It returns
// once the listener accepts TCP connections (polled with a generous deadline;
// mosquitto is an external process, so waiting for it is the one place a test
// may poll). The broker is stopped by the test's cleanup.
//
//	srv := mosquittotest.Start(t)
//	opts := mqtt.NewClientOptions().AddBroker(srv.URL())
//
// StartWith takes a Config for the options a test may want: a username and
// password, or many accounts (anonymous clients are then refused), an ACL
// file in mosquitto's own syntax (a fleet's pattern ACL, lintel/v1/%u/#),
// persistence across Restart, and a TLS listener with certificates from a
// CA made for the test, optionally requiring client certificates
// (CertPool, CAFile, ClientCert) and taking a certificate's common name as
// the username.
//
// Outages are part of what Lintel must survive, so a Server can be taken
// away and brought back on the same port: Stop ends mosquitto (clients see
// their connection drop), Kill crashes it (SIGKILL: nothing is saved on the
// way out), Restart starts it again on the same address, Stall freezes the
// process with SIGSTOP so connections stay open but nothing is answered (a
// hung cloud broker), and Resume lets it run again.
//
// Benchmarks that put mosquitto on the far end read what it costs: Pid for
// its memory in /proc, CPU for the processor time it has used, so that a
// figure bounded by the broker (one thread) can be told from one bounded
// by Lintel.
//
// When mosquitto is not installed the test fails with a message saying so,
// unless testing.Short() is set, in which case it is skipped: CI installs
// mosquitto and runs the full suite, so a missing binary is never a silent
// pass. The binary is looked up as $MOSQUITTO, then "mosquitto" on $PATH,
// then /usr/sbin/mosquitto and /usr/local/sbin/mosquitto (Debian installs it
// under sbin, which is often not on a user's $PATH).
//
// On Linux mosquitto is started with a parent-death signal, so a test
// process killed from outside leaves no broker behind. A Server's methods
// may be called from any goroutine; they are serialised by a mutex.
// mosquitto's own log is kept in the temporary directory and written to
// the test log when the test fails.
package mosquittotest
