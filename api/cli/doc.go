// Package cli is the client half of the lintel command: kong command
// structs for managing users, PINs and cards, reading events and status,
// showing and resetting the portal sync revision (`lintel sync status`,
// `lintel sync reset`) and driving the simulator, all over the REST API
// through package client.
//
// cmd/lintel embeds [Globals] (the gateway's address and token) and
// [Commands] in its own kong grammar and runs the chosen command with the
// Globals bound:
//
//	var cli struct {
//		cli.Globals
//		cli.Commands
//		Run RunCmd `cmd:"" help:"Run the gateway."`
//	}
//	ctx := kong.Parse(&cli)
//	err := ctx.Run(&cli.Globals)
//	os.Exit(cli.Report(os.Stderr, err))
//
// The address comes from --addr or LINTEL_ADDR (default
// http://127.0.0.1:8080), the token from --token or LINTEL_TOKEN, else from
// the file lintel-data/admin.token that `lintel run --sim` writes on its
// first start. The token is never sent over plain HTTP to another machine:
// with an http:// address that is not loopback or localhost, a command
// fails before sending anything and says to use an https:// address, or to
// pass --insecure-token to send it anyway. Errors the API answered print as
// `lintel: <code>: <message>` and exit non-zero. A generated PIN is printed
// once, by `pin set --generate`; nothing else prints a PIN.
package cli
