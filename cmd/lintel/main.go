// Command lintel is the Lintel access-control gateway: one binary that runs
// the appliance (`lintel run`), checks its configuration, and talks to a
// running gateway over its REST API.
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/cli"
	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/gateway"
)

type commands struct {
	cli.Globals
	Run runCmd `cmd:"" help:"Run the gateway."`
	cli.Commands
	Config  configCmd  `cmd:"" help:"Print or check a configuration file."`
	Token   tokenCmd   `cmd:"" help:"Make API tokens."`
	Key     keyCmd     `cmd:"" help:"The device key that PINs are hashed under."`
	Broker  brokerCmd  `cmd:"" help:"Embedded MQTT broker helpers."`
	Version versionCmd `cmd:"" help:"Print the version."`

	Completion completionCmd `cmd:"" help:"Print the shell completion script for bash, zsh or fish."`
	Man        manCmd        `cmd:"" help:"Print the man page (roff), as lintel(1) is installed."`
}

type runCmd struct {
	Sim    bool   `help:"Run with simulated readers and doors and built-in defaults (data in ./lintel-data)."`
	Config string `short:"c" help:"Configuration file (TOML)." type:"path"`
	Data   string `help:"Data directory, instead of the config's gateway.data_dir." placeholder:"DIR"`
	API    string `name:"api" help:"API listen address, instead of the config's api.listen." placeholder:"HOST:PORT"`
	MQTT   string `name:"mqtt" help:"Embedded broker listen address, instead of the config's broker.listen." placeholder:"HOST:PORT"`
}

func (r *runCmd) Run() error {
	var cfg *gateway.Config
	switch {
	case r.Config != "":
		c, err := gateway.LoadConfig(r.Config)
		if err != nil {
			return err
		}
		cfg = c
	case r.Sim:
		cfg = gateway.SimDefaults()
	default:
		return fmt.Errorf("run: give --config FILE, or --sim for the simulator")
	}
	if r.Data != "" {
		cfg.Gateway.DataDir = r.Data
	}
	if r.API != "" {
		cfg.API.Listen = r.API
	}
	if r.MQTT != "" {
		cfg.Broker.Listen = r.MQTT
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return gateway.Run(ctx, cfg, gateway.Options{Sim: r.Sim})
}

type configCmd struct {
	Example struct{} `cmd:"" help:"Print a complete, commented configuration."`
	Check   struct {
		File   string `arg:"" help:"Configuration file to check." type:"path"`
		Strict bool   `help:"Fail (exit 1) on warnings too: a password from the example, an API or uplink in plain text off this machine, anonymous MQTT clients from the network."`
	} `cmd:"" help:"Check a configuration file and explain what is wrong; warn about what is unsafe."`
}

func (c *configCmd) Run(k *kong.Context) error {
	switch k.Command() {
	case "config example":
		_, err := os.Stdout.Write(gateway.ExampleConfig())
		return err
	default:
		cfg, err := gateway.LoadConfig(c.Check.File)
		if err != nil {
			// One problem a line, each said by lintel like the last.
			problems := strings.Split(err.Error(), "\n")
			for _, p := range problems[:len(problems)-1] {
				fmt.Fprintf(os.Stderr, "lintel: %s\n", p)
			}
			return errors.New(problems[len(problems)-1])
		}
		warnings := cfg.Warnings()
		for _, w := range warnings {
			fmt.Fprintf(os.Stderr, "lintel: %s\n", w)
		}
		switch {
		case len(warnings) > 0 && c.Check.Strict:
			return fmt.Errorf("%s: %s, and --strict fails on them", c.Check.File, countWarnings(len(warnings)))
		case len(warnings) > 0:
			fmt.Printf("%s: ok, with %s\n", c.Check.File, countWarnings(len(warnings)))
		default:
			fmt.Printf("%s: ok\n", c.Check.File)
		}
		return nil
	}
}

func countWarnings(n int) string {
	if n == 1 {
		return "1 warning"
	}
	return fmt.Sprintf("%d warnings", n)
}

type tokenCmd struct {
	New struct {
		Role string `help:"Also print the [[api.tokens]] table for a token of this role: admin, technician, portal or monitor (reads /metrics and the status only)." placeholder:"ROLE"`
		Name string `help:"The token's name in that table (default: the role)." placeholder:"NAME"`
	} `cmd:"" help:"Make a random API token; put its sha256 in [[api.tokens]]."`
}

func (t *tokenCmd) Run() error {
	role, name := api.Role(t.New.Role), cmp.Or(t.New.Name, t.New.Role)
	if role != "" && !role.Known() {
		return fmt.Errorf("token new: --role %q is not a role (want admin, technician, portal or monitor)", role)
	}
	plain, hash := api.NewToken()
	fmt.Printf("token:  %s\nsha256: %s\n", plain, hash)
	if role != "" {
		fmt.Printf("\n[[api.tokens]]\nname = %q\nrole = %q\nsha256 = %q\n", name, role, hash)
	}
	return nil
}

type keyCmd struct {
	Init struct {
		Config string `short:"c" required:"" help:"Configuration file (TOML): its gateway.key_file and gateway.data_dir." type:"path"`
	} `cmd:"" help:"Make the device key at gateway.key_file, or move there one an earlier version left in the data directory. An existing key is never replaced."`
}

func (k *keyCmd) Run() error {
	cfg, err := gateway.LoadConfig(k.Init.Config)
	if err != nil {
		return err
	}
	path, created, err := gateway.InitDeviceKey(cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return fmt.Errorf("key init: %w", err)
	}
	if created {
		fmt.Printf("lintel: made a new device key at %s\n", path)
	} else {
		fmt.Printf("lintel: the device key is at %s\n", path)
	}
	return nil
}

type brokerCmd struct {
	Passwd struct{} `cmd:"" help:"Read a password on stdin and print its bcrypt hash for [[broker.clients]]."`
}

func (brokerCmd) Run() error {
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	pw := strings.TrimRight(line, "\r\n")
	if (err != nil && err != io.EOF) || pw == "" {
		return fmt.Errorf("broker passwd: give the password on one line of stdin")
	}
	h, err := broker.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Println(h)
	return nil
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("lintel", gateway.Version)
	return nil
}

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

func (c *completionCmd) Run(k *kong.Context) error {
	return cli.Completion(os.Stdout, k.Model, c.Shell)
}

type manCmd struct{}

func (manCmd) Run(k *kong.Context) error { return cli.ManPage(os.Stdout, k.Model, gateway.Version) }

// loadSettings reads what the CLI needs of a gateway's config: the format
// and its defaults are package gateway's.
func loadSettings(path string) (cli.Settings, error) {
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		return cli.Settings{}, err
	}
	return cli.Settings{Listen: cfg.API.Listen, TLS: cfg.API.TLSCert != "",
		AdminTokenFile: filepath.Join(cfg.Gateway.DataDir, gateway.AdminTokenFile)}, nil
}

func main() { os.Exit(run(os.Args[1:])) }

// run runs the lintel command and returns its exit status (cli.ExitOK,
// cli.ExitError, or cli.ExitUsage for a command line that cannot run).
func run(args []string) int {
	var c commands
	exit := -1
	k, err := kong.New(&c, kong.Name("lintel"),
		kong.Description("Lintel access-control gateway: run it, check its config, and manage a running one over its API."),
		kong.Exit(func(code int) { exit = code }))
	if err != nil {
		return cli.Report(os.Stderr, err)
	}
	kctx, err := k.Parse(args)
	if exit >= 0 {
		return exit // --help
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lintel: %v\nlintel: see lintel --help, or lintel COMMAND --help\n", err)
		return cli.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c.Globals.Context = ctx
	c.Globals.LoadConfig = loadSettings
	return cli.Report(os.Stderr, kctx.Run(&c.Globals))
}
