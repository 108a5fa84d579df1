// Command lintel is the Lintel access-control gateway: one binary that runs
// the appliance and talks to a running one.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"

	"github.com/lintel-access/lintel/gateway"
)

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("lintel", gateway.Version)
	return nil
}

type cli struct {
	Version versionCmd `cmd:"" help:"Print the version."`
}

func main() {
	var c cli
	ctx := kong.Parse(&c, kong.Name("lintel"), kong.Description("Lintel access-control gateway."), kong.UsageOnError())
	if err := ctx.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "lintel:", err)
		os.Exit(1)
	}
}
