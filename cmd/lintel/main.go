// Command lintel is the Lintel access-control gateway: one binary that runs
// the appliance (`lintel run`), checks its configuration, and talks to a
// running gateway over its REST API.
package main

import (
	"bufio"
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
		File string `arg:"" help:"Configuration file to check." type:"path"`
	} `cmd:"" help:"Check a configuration file and explain what is wrong."`
}

func (c *configCmd) Run(k *kong.Context) error {
	switch k.Command() {
	case "config example":
		_, err := os.Stdout.Write(gateway.ExampleConfig())
		return err
	default:
		if _, err := gateway.LoadConfig(c.Check.File); err != nil {
			// One problem a line, each said by lintel like the last.
			problems := strings.Split(err.Error(), "\n")
			for _, p := range problems[:len(problems)-1] {
				fmt.Fprintf(os.Stderr, "lintel: %s\n", p)
			}
			return errors.New(problems[len(problems)-1])
		}
		fmt.Printf("%s: ok\n", c.Check.File)
		return nil
	}
}

type tokenCmd struct {
	New struct{} `cmd:"" help:"Make a random API token; put its sha256 in [[api.tokens]]."`
}

func (tokenCmd) Run() error {
	plain, hash := api.NewToken()
	fmt.Printf("token:  %s\nsha256: %s\n", plain, hash)
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
