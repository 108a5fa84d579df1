package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/lintel-access/lintel/gateway/store"
)

// CredentialDeviceKey is the name of the systemd credential that carries
// the device key (LoadCredential=device.key:/etc/lintel/device.key in
// systemd/lintel.service).
const CredentialDeviceKey = "device.key"

// legacyKeyFile is where Lintel kept the device key before it moved out of
// the data directory: DataDir/device.key.
const legacyKeyFile = "device.key"

// deviceKeyPath is where the device key is read from: the systemd
// credential when systemd passes one, else the config's key file.
func deviceKeyPath(cfg *Config) (path string, credential bool) {
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		p := filepath.Join(dir, CredentialDeviceKey)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return cfg.DeviceKeyFile(), false
}

// prepareDeviceKey returns the device key's path for the store, after
// moving a key an earlier Lintel left in the data directory to it. With a
// credential, a copy left in the data directory is removed once it is
// found to be the same key.
func prepareDeviceKey(cfg *Config, log *slog.Logger) (string, error) {
	path, credential := deviceKeyPath(cfg)
	if err := store.CheckKeyFile(path, cfg.Gateway.DataDir); err != nil {
		return "", fmt.Errorf("gateway: %w", err)
	}
	if _, err := store.MoveKeyFile(filepath.Join(cfg.Gateway.DataDir, legacyKeyFile), path, log); err != nil {
		return "", fmt.Errorf("gateway: %w", err)
	}
	if credential {
		log.Info("device key from the systemd credential", "credential", CredentialDeviceKey)
	} else if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		log.Info("no device key yet; making one", "path", path)
	}
	return path, nil
}

// InitDeviceKey makes sure the device key of cfg exists where the gateway
// will read it (the systemd credential's source or gateway.key_file): it
// moves a key an earlier Lintel left in the data directory there, or makes
// a new one. An existing key is never replaced. The package runs it as
// root before the gateway's first start (`lintel key init`, from
// systemd/lintel-key.service), so that the key can be root's alone.
func InitDeviceKey(cfg *Config, log *slog.Logger) (path string, created bool, err error) {
	path = cfg.DeviceKeyFile()
	if err := store.CheckKeyFile(path, cfg.Gateway.DataDir); err != nil {
		return path, false, err
	}
	if _, err := store.MoveKeyFile(filepath.Join(cfg.Gateway.DataDir, legacyKeyFile), path, log); err != nil {
		return path, false, err
	}
	created, err = store.InitKeyFile(path, log)
	return path, created, err
}
