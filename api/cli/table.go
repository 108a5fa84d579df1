package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// ExportCmd is `lintel export > backup.json`.
type ExportCmd struct{}

// Run prints the export document as the gateway made it.
func (c *ExportCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	b, err := cl.Export(g.ctx())
	if err != nil {
		return err
	}
	if _, err := g.out().Write(b); err != nil {
		return err
	}
	_, err = fmt.Fprintln(g.out())
	return err
}

// ImportCmd is `lintel import backup.json`.
type ImportCmd struct {
	File string `arg:"" help:"An export (lintel export), or - for stdin." type:"path"`
}

// Run imports the file and says what was restored and who needs a PIN.
func (c *ImportCmd) Run(g *Globals) error {
	var b []byte
	var err error
	if c.File == "-" {
		b, err = io.ReadAll(g.in())
	} else {
		b, err = os.ReadFile(c.File)
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	res, err := cl.Import(g.ctx(), b)
	if err != nil {
		return err
	}
	return g.print(res, func(w io.Writer) error {
		fmt.Fprintf(w, "imported %d users, %d cards, %d schedules, %d holidays, %d levels, %d door policies, %d overrides; %d users kept their PIN\n",
			res.Users, res.Credentials, res.Schedules, res.Holidays, res.Levels, res.DoorPolicies, res.Overrides, res.PINs)
		if n := len(res.NeedPIN); n > 0 {
			fmt.Fprintf(w, "%d users need a new PIN (PINs are never exported): %s\n", n, strings.Join(res.NeedPIN, ", "))
			fmt.Fprintln(w, "give each one with: lintel pin set USER --generate 6")
		}
		return nil
	})
}
