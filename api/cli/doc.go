// Package cli is the client half of the lintel command: kong command
// structs for managing users, PINs and cards (listing and searching them,
// enabling and disabling, enrolling the next card a reader reads, removing
// one), the access policy (schedules, holidays, levels, door policies,
// lockdown and the other overrides), exporting and importing the whole
// table, reading events and status, showing and resetting the portal sync
// revision and driving the simulator, all over the REST API through
// package client. It also writes the command's shell completions (bash,
// zsh, fish) and its man page from the kong model ([Completion],
// [ManPage]).
//
// cmd/lintel embeds [Globals] (the gateway's address, token and --json)
// and [Commands] in its own kong grammar and runs the chosen command with
// the Globals bound, setting Globals.LoadConfig so that the CLI can read a
// gateway's config without knowing its format (package gateway owns it):
//
//	var cli struct {
//		cli.Globals
//		cli.Commands
//		Run RunCmd `cmd:"" help:"Run the gateway."`
//	}
//	k, _ := kong.New(&cli)
//	ctx, err := k.Parse(os.Args[1:])  // an error: exit cli.ExitUsage
//	cli.Globals.LoadConfig = loadSettings
//	os.Exit(cli.Report(os.Stderr, ctx.Run(&cli.Globals)))
//
// # Where it finds the gateway
//
// Each setting comes from the first of: a flag, the environment, the
// gateway's config, the data directories. The address is --addr, else
// LINTEL_ADDR, else the config's api.listen (a wildcard host is reached on
// loopback; https when the config serves TLS), else
// http://127.0.0.1:8080. The token is --token, else LINTEL_TOKEN, else the
// file --token-file or LINTEL_TOKEN_FILE names, else the config's
// gateway.data_dir/admin.token, else the first of [DefaultTokenFiles] that
// exists (lintel-data/admin.token of `lintel run --sim`, then
// /var/lib/lintel/admin.token). The config is the file LINTEL_CONFIG
// names (which must exist), else [DefaultConfigFile] when it exists; it is
// read only when a setting is left to it. Globals.ConfigFile, TokenFiles
// and Getenv replace those places in tests.
//
// The token is never sent over plain HTTP to another machine: with an
// http:// address that is not loopback or localhost, a command fails
// before sending anything and says to use an https:// address, or to pass
// --insecure-token to send it anyway.
//
// # Output and exit status
//
// Read commands print for people, or JSON with --json (events one object a
// line, as the API and MQTT carry them). Errors the API answered print as
// `lintel: <code>: <message>`, with advice where there is some (a gateway
// that does not answer: is lintel running?; a refused token; a file that
// cannot be read: run with sudo). The exit status is [ExitOK] (0),
// [ExitError] (1) for a command that failed, [ExitUsage] (2) for a command
// line that cannot run ([UsageError]). A generated PIN is printed once, by
// `pin set --generate`; nothing else prints a PIN.
//
// # Overrides
//
// `door lockdown`, `door lock` and `door unlock` hold each door named, or
// every door (--all), with an override named after the mode and the door
// ("lockdown-all", "unlocked-garage"), so that the CLI finds its own again:
// setting one mode on a door ends the CLI's overrides of the other modes
// there, `door release` ends every override naming a door (or all, or one
// by id), and the CLI says when another override still wins. --until is
// read in the gateway's time zone from the gateway's own clock (its
// status's timezone and local_time, [ParseUntil]); a time without a date
// is the next such time.
package cli
